# bash completion for dnsctl: source <(dnsctl completion bash)
_dnsctl() {
  local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]} cmd="" i words=""
  for ((i = 1; i < COMP_CWORD; i++)); do
    case ${COMP_WORDS[i]} in
      -C | --C) ((i++)) ;;
      -*) ;;
      *) cmd=${COMP_WORDS[i]}; break ;;
    esac
  done
  case $prev in
    -C | --C) COMPREPLY=($(compgen -d -- "$cur")); return ;;
    --format | -format)
      case $cmd in
        cache) words="text json" ;;
        check) words="human json github" ;;
        diff) words="text markdown json" ;;
        graph) words="dot svg" ;;
        verify) words="text markdown json html" ;;
      esac
      COMPREPLY=($(compgen -W "$words" -- "$cur")); return ;;
  esac
  case $cmd in
    "") COMPREPLY=($(compgen -W "accept cache check completion diff graph promote verify version help --help --version -C" -- "$cur")); return ;;
    help) COMPREPLY=($(compgen -W "accept cache check completion diff graph promote verify version" -- "$cur")); return ;;
    completion) COMPREPLY=($(compgen -W "bash" -- "$cur")); return ;;
    accept) words="-C --node --timeout --token-file --help" ;;
    cache) words="-C --format --node --subtree --timeout --token-file --type --help" ;;
    check) words="-C --base --format --no-base --help" ;;
    diff) words="-C --format --help" ;;
    graph) words="-C --format --help" ;;
    promote) words="-C --after-bake --auth-file --bake --node --port --push-timeout --remote --status --status-port --timeout --to --wait --watch --watch-every --help" ;;
    verify) words="-C --cluster --format --node --port --record --timeout --wait --help" ;;
    version) words="-C --help" ;;
  esac
  if [[ $cur == -* ]]; then
    COMPREPLY=($(compgen -W "$words" -- "$cur"))
  else
    # Revisions: HEAD, branches, tags, remote branches.
    COMPREPLY=($(compgen -W "HEAD $(git for-each-ref --format='%(refname:short)' refs/heads refs/tags refs/remotes 2>/dev/null)" -- "$cur"))
  fi
}
complete -F _dnsctl dnsctl
