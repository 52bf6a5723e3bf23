package main

import (
	"fmt"
	"io"
	"strings"
)

func init() {
	register(command{
		name:    "completion",
		usage:   "completion bash",
		summary: "the shell completion script: subcommands, their flags, formats and git revisions",
		args:    []string{"bash  the shell (bash; zsh reads it through bashcompinit)"},
		examples: []string{
			"source <(dnsctl completion bash)                               # this shell",
			"dnsctl completion bash > /etc/bash_completion.d/dnsctl         # every shell",
		},
		exits: "(not used)",
		run:   runCompletion,
	})
}

func runCompletion(e *env, args []string) int {
	fs, _ := e.flags("completion", "")
	pos, code, ok := e.parseAll(fs, args)
	if !ok {
		return code
	}
	if len(pos) != 1 || pos[0] != "bash" {
		return e.badArgs("want the shell, bash")
	}
	writeBashCompletion(e.stdout)
	return exitOK
}

// commandFlags returns the flags of subcommand name, as the subcommand
// itself defines them (it runs in flagsOnly mode and stops at parsing).
func commandFlags(name string) []string {
	var names []string
	e := &env{stdout: io.Discard, stderr: io.Discard, cmd: name, flagsOnly: &names}
	commands[name].run(e, nil)
	out := make([]string, 0, len(names))
	for _, n := range names {
		if len(n) == 1 {
			out = append(out, "-"+n) // -C, as git spells it
		} else {
			out = append(out, "--"+n)
		}
	}
	return append(out, "--help")
}

// writeBashCompletion writes a bash completion function generated from the
// command table, so a new subcommand or flag completes without editing it.
func writeBashCompletion(w io.Writer) {
	names := commandNames()
	fmt.Fprintln(w, "# bash completion for dnsctl: source <(dnsctl completion bash)")
	fmt.Fprintln(w, "_dnsctl() {")
	fmt.Fprintln(w, `  local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]} cmd="" i words=""`)
	fmt.Fprintln(w, `  for ((i = 1; i < COMP_CWORD; i++)); do`)
	fmt.Fprintln(w, `    case ${COMP_WORDS[i]} in`)
	fmt.Fprintln(w, `      -C | --C) ((i++)) ;;`)
	fmt.Fprintln(w, `      -*) ;;`)
	fmt.Fprintln(w, `      *) cmd=${COMP_WORDS[i]}; break ;;`)
	fmt.Fprintln(w, `    esac`)
	fmt.Fprintln(w, `  done`)
	fmt.Fprintln(w, `  case $prev in`)
	fmt.Fprintln(w, `    -C | --C) COMPREPLY=($(compgen -d -- "$cur")); return ;;`)
	fmt.Fprintln(w, `    --format | -format)`)
	fmt.Fprintln(w, `      case $cmd in`)
	for _, n := range names {
		if f := commandFormats(n); len(f) > 0 {
			fmt.Fprintf(w, "        %s) words=%q ;;\n", n, strings.Join(f, " "))
		}
	}
	fmt.Fprintln(w, `      esac`)
	fmt.Fprintln(w, `      COMPREPLY=($(compgen -W "$words" -- "$cur")); return ;;`)
	fmt.Fprintln(w, `  esac`)
	fmt.Fprintln(w, `  case $cmd in`)
	fmt.Fprintf(w, "    \"\") COMPREPLY=($(compgen -W %q -- \"$cur\")); return ;;\n", strings.Join(append(names, "help", "--help", "--version", "-C"), " "))
	fmt.Fprintln(w, `    help) COMPREPLY=($(compgen -W "`+strings.Join(names, " ")+`" -- "$cur")); return ;;`)
	fmt.Fprintln(w, `    completion) COMPREPLY=($(compgen -W "bash" -- "$cur")); return ;;`)
	for _, n := range names {
		if n != "completion" {
			fmt.Fprintf(w, "    %s) words=%q ;;\n", n, strings.Join(commandFlags(n), " "))
		}
	}
	fmt.Fprintln(w, `  esac`)
	fmt.Fprintln(w, `  if [[ $cur == -* ]]; then`)
	fmt.Fprintln(w, `    COMPREPLY=($(compgen -W "$words" -- "$cur"))`)
	fmt.Fprintln(w, `  else`)
	fmt.Fprintln(w, `    # Revisions: HEAD, branches, tags, remote branches.`)
	fmt.Fprintln(w, `    COMPREPLY=($(compgen -W "HEAD $(git for-each-ref --format='%(refname:short)' refs/heads refs/tags refs/remotes 2>/dev/null)" -- "$cur"))`)
	fmt.Fprintln(w, `  fi`)
	fmt.Fprintln(w, "}")
	fmt.Fprintln(w, "complete -F _dnsctl dnsctl")
}

// commandFormats returns the --format values of subcommand name.
func commandFormats(name string) []string {
	var names []string
	e := &env{stdout: io.Discard, stderr: io.Discard, cmd: name, flagsOnly: &names}
	commands[name].run(e, nil)
	if e.common == nil {
		return nil
	}
	return e.common.formats
}
