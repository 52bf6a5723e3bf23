package staging

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/gitops-dns/resolverd/cluster/model"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport"
)

// Where verifications are recorded. A passing verification of revision R on
// cluster C is the annotated tag refs/tags/verified/C/R pointing at R, whose
// message is the JSON report; the canary's re-verification after the bake
// time is refs/tags/baked/C/R. Tags rather than notes: go-git creates, reads
// and pushes them natively, every git UI shows them, the tagger line records
// who verified and when, and a tag names exactly one commit, so "a verify of
// exactly that revision" is a ref lookup. The first record wins: a later
// verification of the same revision does not move the tag, so the time of
// the first verification (the start of a canary's bake) cannot be reset.
const (
	VerifiedTagPrefix = "verified/"
	BakedTagPrefix    = "baked/"
)

// Errors a promotion refuses with (wrapped with the details).
var (
	ErrNotVerified     = errors.New("revision not verified")
	ErrNotFastForward  = errors.New("not a fast-forward")
	ErrBakeNotComplete = errors.New("bake time not complete")
)

// VerifiedTag is the tag recording a passing verification of rev on a cluster.
func VerifiedTag(clusterName, rev string) plumbing.ReferenceName {
	return plumbing.NewTagReferenceName(VerifiedTagPrefix + clusterName + "/" + rev)
}

// BakedTag is the tag recording the canary's re-verification after the bake.
func BakedTag(clusterName, rev string) plumbing.ReferenceName {
	return plumbing.NewTagReferenceName(BakedTagPrefix + clusterName + "/" + rev)
}

// Record is a verification recorded in git.
type Record struct {
	Tag      plumbing.ReferenceName
	When     time.Time // the tagger time: when the verification was recorded
	Tagger   string
	Report   *Report
	Existing bool // the tag was already there (Save did not write)
}

// Save records a passing report as an annotated tag on its revision (under
// refs/tags/verified/, or refs/tags/baked/ when baked is set). A failing
// report is never recorded. When the tag exists it is kept and returned.
func Save(repo *git.Repository, rep *Report, who object.Signature, baked bool) (*Record, error) {
	if !rep.Pass {
		return nil, fmt.Errorf("record: the verification of %s on %s failed; only a passing one is recorded", model.ShortID(rep.Revision), rep.Cluster)
	}
	name := VerifiedTag(rep.Cluster, rep.Revision)
	if baked {
		name = BakedTag(rep.Cluster, rep.Revision)
	}
	if _, err := repo.Reference(name, false); err == nil {
		r, err := loadTag(repo, name, rep.Cluster, rep.Revision)
		if err != nil {
			return nil, err
		}
		r.Existing = true
		return r, nil
	}
	h := plumbing.NewHash(rep.Revision)
	if _, err := repo.CommitObject(h); err != nil {
		return nil, fmt.Errorf("record: revision %s: %w", rep.Revision, err)
	}
	var msg strings.Builder
	fmt.Fprintf(&msg, "dnsctl verify: %s on cluster %s: %s\n\n", model.ShortID(rep.Revision), rep.Cluster, rep.summary())
	if err := rep.Render(&msg, "json"); err != nil {
		return nil, err
	}
	if who.When.IsZero() {
		who.When = time.Now()
	}
	if _, err := repo.CreateTag(strings.TrimPrefix(name.String(), "refs/tags/"), h, &git.CreateTagOptions{Tagger: &who, Message: msg.String()}); err != nil {
		return nil, fmt.Errorf("record: tag %s: %w", name, err)
	}
	return &Record{Tag: name, When: who.When, Tagger: who.String(), Report: rep}, nil
}

// LoadRecord returns the recorded passing verification of exactly rev on the
// cluster, or an error wrapping ErrNotVerified.
func LoadRecord(repo *git.Repository, clusterName, rev string) (*Record, error) {
	return loadTag(repo, VerifiedTag(clusterName, rev), clusterName, rev)
}

func loadTag(repo *git.Repository, name plumbing.ReferenceName, clusterName, rev string) (*Record, error) {
	ref, err := repo.Reference(name, false)
	if err != nil {
		return nil, fmt.Errorf("%w: no %s (run `dnsctl verify --cluster %s %s`)", ErrNotVerified, name, clusterName, rev)
	}
	tag, err := repo.TagObject(ref.Hash())
	if err != nil {
		return nil, fmt.Errorf("%w: %s is not an annotated tag written by dnsctl verify: %v", ErrNotVerified, name, err)
	}
	if tag.Target.String() != rev || tag.TargetType != plumbing.CommitObject {
		return nil, fmt.Errorf("%w: %s points at %s, not at %s", ErrNotVerified, name, tag.Target, rev)
	}
	_, body, ok := strings.Cut(tag.Message, "\n\n")
	if !ok {
		return nil, fmt.Errorf("%w: %s carries no report", ErrNotVerified, name)
	}
	rep, err := ParseReport([]byte(body))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrNotVerified, name, err)
	}
	if rep.Revision != rev || rep.Cluster != clusterName || !rep.Pass {
		return nil, fmt.Errorf("%w: %s records revision %s on %s with pass=%t", ErrNotVerified, name, rep.Revision, rep.Cluster, rep.Pass)
	}
	return &Record{Tag: name, When: tag.Tagger.When, Tagger: tag.Tagger.String(), Report: rep}, nil
}

// PromoteOptions says what to promote where.
type PromoteOptions struct {
	Repo     *git.Repository
	Revision *model.Revision // the revision to promote, loaded from its commit (its cluster files decide the refs)
	To       model.Environment

	// AfterBake promotes to the ref the non-canary clusters of the
	// environment track, once every canary cluster has served the revision
	// for Bake with its probes passing throughout (the self-probe history
	// of every canary node, read from its status endpoint at Status) and
	// passes a fresh verification (ReVerify).
	AfterBake bool
	Bake      time.Duration
	ReVerify  func(ctx context.Context, clusterName string) (*Report, error)
	Status    StatusOptions
	// Watch, when set, waits out a bake that is not complete yet, probing
	// the canary nodes meanwhile (WatchOptions); nil refuses it.
	Watch *WatchOptions

	// Remote is the name of the remote to push to; "" updates the refs of
	// the local repository only.
	Remote  string
	Auth    transport.AuthMethod
	Timeout time.Duration // bounds the remote's ref listing and the push (default 30s)

	Who object.Signature // tagger of the bake record
	Now func() time.Time
}

// Promotion is what Promote did.
type Promotion struct {
	Ref          plumbing.ReferenceName
	From         plumbing.Hash // zero when the ref was created
	To           plumbing.Hash
	AlreadyThere bool
	Remote       string
	Verified     []*Record  // the records that allowed it
	Baked        []*Record  // after-bake: the canaries' re-verifications
	Watched      []NodeBake // after-bake: each canary node's self-probes over the bake
	Warnings     []string
}

// Promote moves the ref the clusters of an environment track to a verified
// revision, fast-forward only, and pushes it (with the verification tags).
//
// Without AfterBake: at least one staging cluster must have a recorded
// passing verification of exactly the revision; the ref moved is the one the
// environment's canary clusters track (or, without canaries, the one all its
// clusters track). With AfterBake: the canary ref must already contain the
// revision, every canary cluster must have a verification of it recorded at
// least Bake ago and pass a fresh one now; the ref moved is the one the
// non-canary clusters track.
func Promote(ctx context.Context, opt PromoteOptions) (*Promotion, error) {
	if err := opt.defaults(); err != nil {
		return nil, err
	}
	rev := opt.Revision.ID
	h := plumbing.NewHash(rev)
	p := &Promotion{To: h, Remote: opt.Remote}

	// Which clusters, which refs.
	stagingNames, canaries, rest := clustersOf(opt.Revision, opt.To)
	if len(canaries)+len(rest) == 0 {
		return nil, fmt.Errorf("promote: revision %s has no %s cluster", model.ShortID(rev), opt.To)
	}
	if opt.To == model.Staging {
		return nil, fmt.Errorf("promote: staging clusters track the main branch; nothing to promote to")
	}
	verified, err := verifiedOnStaging(opt.Repo, stagingNames, rev)
	if err != nil {
		return nil, err
	}
	p.Verified = verified
	canaryRef, err := oneRef(canaries)
	if err != nil {
		return nil, fmt.Errorf("promote: canary clusters: %w", err)
	}
	restRef, err := oneRef(rest)
	if err != nil {
		return nil, fmt.Errorf("promote: non-canary %s clusters: %w", opt.To, err)
	}

	ctx, cancel := context.WithTimeout(ctx, opt.Timeout)
	defer cancel()
	refs, err := currentRefs(ctx, opt)
	if err != nil {
		return nil, err
	}

	// Which ref moves: the canaries' first; the others' after the bake.
	var pushTags []plumbing.ReferenceName
	for _, r := range p.Verified {
		pushTags = append(pushTags, r.Tag)
	}
	switch {
	case !opt.AfterBake && len(canaries) > 0:
		p.Ref = canaryRef
		if restRef == canaryRef {
			p.Warnings = append(p.Warnings, fmt.Sprintf("clusters %s track %s like the canary %s: they take the revision at the same time (track a separate ref, e.g. refs/heads/production-baked, and promote with --after-bake)", names(rest), canaryRef, names(canaries)))
		}
	case !opt.AfterBake:
		p.Ref = restRef
	default:
		baked, watched, tags, err := bake(ctx, opt, refs, canaries, rest, canaryRef, restRef)
		if err != nil {
			return nil, err
		}
		p.Baked, p.Watched = baked, watched
		pushTags = append(pushTags, tags...)
		p.Ref = restRef
	}

	// Fast-forward only.
	if cur, ok := refs[p.Ref]; ok {
		p.From = cur
		if cur == h {
			p.AlreadyThere = true
		} else if in, err := contains(opt.Repo, h, cur); err != nil {
			return nil, fmt.Errorf("promote: %w", err)
		} else if !in {
			return nil, fmt.Errorf("promote %s: %w: %s is at %s, which is not an ancestor of %s (refusing to rewrite what production serves; revert on top of it instead)",
				model.ShortID(rev), ErrNotFastForward, p.Ref, model.ShortID(cur.String()), model.ShortID(rev))
		}
	}
	if err := publish(ctx, opt, p, refs, pushTags); err != nil {
		return nil, err
	}
	return p, nil
}

func (opt *PromoteOptions) defaults() error {
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Timeout <= 0 {
		opt.Timeout = 30 * time.Second
	}
	if opt.Repo == nil || opt.Revision == nil || opt.Revision.ID == "" {
		return fmt.Errorf("promote: no revision")
	}
	if opt.To == "" {
		opt.To = model.Production
	}
	return nil
}

// clustersOf returns the names of rev's staging clusters and its clusters
// of environment to, canaries apart from the rest.
func clustersOf(rev *model.Revision, to model.Environment) (stagingNames []string, canaries, rest []*model.Cluster) {
	for _, c := range rev.Clusters {
		if c.Environment == model.Staging {
			stagingNames = append(stagingNames, c.Name)
		}
		if c.Environment == to {
			if c.Canary {
				canaries = append(canaries, c)
			} else {
				rest = append(rest, c)
			}
		}
	}
	return stagingNames, canaries, rest
}

// verifiedOnStaging returns the recorded passing verifications of exactly
// rev on the staging clusters; none is an error (ErrNotVerified) that says
// why for each.
func verifiedOnStaging(repo *git.Repository, stagingNames []string, rev string) ([]*Record, error) {
	var verified []*Record
	var notVerified []string
	for _, n := range stagingNames {
		r, err := LoadRecord(repo, n, rev)
		if err != nil {
			notVerified = append(notVerified, err.Error())
			continue
		}
		verified = append(verified, r)
	}
	if len(verified) == 0 {
		if len(stagingNames) == 0 {
			return nil, fmt.Errorf("promote: %w: revision %s has no staging cluster to verify it on", ErrNotVerified, model.ShortID(rev))
		}
		return nil, fmt.Errorf("promote %s: %w on any staging cluster: %s", model.ShortID(rev), ErrNotVerified, strings.Join(notVerified, "; "))
	}
	return verified, nil
}

// bake is the gate of an after-bake promotion: the canary ref already holds
// the revision, and every canary cluster passed its first verification of it
// at least opt.Bake ago, every node of it passed its gate probes throughout
// the time since (its self-probe history), and the cluster passes a fresh
// verification now (recorded as a baked tag). It returns the baked records,
// what each node's history showed and the tags to push with the ref.
func bake(ctx context.Context, opt PromoteOptions, refs map[plumbing.ReferenceName]plumbing.Hash,
	canaries, rest []*model.Cluster, canaryRef, restRef plumbing.ReferenceName) ([]*Record, []NodeBake, []plumbing.ReferenceName, error) {
	rev := opt.Revision.ID
	h := plumbing.NewHash(rev)
	if len(canaries) == 0 {
		return nil, nil, nil, fmt.Errorf("promote --after-bake: %s has no canary cluster (canary: true); promote without --after-bake", opt.To)
	}
	if len(rest) == 0 || restRef == canaryRef {
		return nil, nil, nil, fmt.Errorf("promote --after-bake: no separate ref for the non-canary %s clusters: they track %s like the canary", opt.To, canaryRef)
	}
	cur, ok := refs[canaryRef]
	if !ok {
		return nil, nil, nil, fmt.Errorf("promote --after-bake: %w: %s does not exist yet; promote to the canary first", ErrNotVerified, canaryRef)
	}
	in, err := contains(opt.Repo, cur, h)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("promote --after-bake: %w: the canary ref %s is at %s, which this repository cannot read (fetch it first): %v", ErrNotVerified, canaryRef, model.ShortID(cur.String()), err)
	}
	if !in {
		return nil, nil, nil, fmt.Errorf("promote --after-bake: %w: the canary ref %s (%s) does not contain %s; promote to the canary first", ErrNotVerified, canaryRef, model.ShortID(cur.String()), model.ShortID(rev))
	}
	now := opt.Now()
	firsts := make([]*Record, len(canaries))
	froms := make([]time.Time, len(canaries))
	var until time.Time // when the last bake ends, if one has not
	for i, c := range canaries {
		first, err := LoadRecord(opt.Repo, c.Name, rev)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("promote --after-bake: canary %s: %w (the bake starts at its first passing verification)", c.Name, err)
		}
		if served := now.Sub(first.When); served < opt.Bake {
			if opt.Watch == nil {
				return nil, nil, nil, fmt.Errorf("promote --after-bake: %w: canary %s passed its first verification of %s at %s; %s of the %s bake remain (--watch waits, probing the canary)",
					ErrBakeNotComplete, c.Name, model.ShortID(rev), first.When.UTC().Format(time.RFC3339), (opt.Bake - served).Round(time.Second), opt.Bake)
			}
			if end := first.When.Add(opt.Bake); end.After(until) {
				until = end
			}
		}
		firsts[i] = first
		// The tagger time has whole seconds: the verification ended within
		// the second after it, and the node may have taken the revision
		// just before; the window opens when the record surely existed.
		froms[i] = first.When.Truncate(time.Second).Add(time.Second)
	}
	var watched []NodeBake
	if !until.IsZero() {
		live, err := watchLive(ctx, opt, canaries, froms, until)
		if err != nil {
			return nil, nil, nil, err
		}
		watched = live
		now = opt.Now()
	}
	// Throughout the bake: every node's own history, all nodes judged
	// before refusing, so that the report names every one that failed.
	failed := false
	for i, c := range canaries {
		nb, err := watchedBake(ctx, opt.Status, c, rev, froms[i], now)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("promote --after-bake: %w", err)
		}
		for _, b := range nb {
			failed = failed || len(b.Problems) > 0
		}
		watched = append(watched, nb...)
	}
	if failed {
		return nil, watched, nil, fmt.Errorf("promote --after-bake: %w", &BakeError{Revision: rev, Nodes: watched})
	}
	// And now.
	var baked []*Record
	var tags []plumbing.ReferenceName
	for i, c := range canaries {
		if opt.ReVerify == nil {
			return nil, nil, nil, fmt.Errorf("promote --after-bake: no way to re-verify canary %s", c.Name)
		}
		rep, err := opt.ReVerify(ctx, c.Name)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("promote --after-bake: re-verify canary %s: %w", c.Name, err)
		}
		if !rep.Pass || rep.Revision != rev || rep.Cluster != c.Name {
			return nil, nil, nil, fmt.Errorf("promote --after-bake: %w: canary %s fails its re-verification of %s: %s", ErrNotVerified, c.Name, model.ShortID(rev), rep.summary())
		}
		who := opt.Who
		who.When = now
		b, err := Save(opt.Repo, rep, who, true)
		if err != nil {
			return nil, nil, nil, err
		}
		baked = append(baked, b)
		tags = append(tags, firsts[i].Tag, b.Tag)
	}
	return baked, watched, tags, nil
}

// publish moves p.Ref to p.To: in the local repository when opt.Remote is
// "", else by pushing it with the record tags the remote lacks (its own
// records are kept: the first one wins).
func publish(ctx context.Context, opt PromoteOptions, p *Promotion, refs map[plumbing.ReferenceName]plumbing.Hash, pushTags []plumbing.ReferenceName) error {
	rev := opt.Revision.ID
	if opt.Remote == "" {
		if !p.AlreadyThere {
			if err := opt.Repo.Storer.SetReference(plumbing.NewHashReference(p.Ref, p.To)); err != nil {
				return fmt.Errorf("promote: update %s: %w", p.Ref, err)
			}
		}
		return nil
	}
	specs := []config.RefSpec{}
	if !p.AlreadyThere {
		specs = append(specs, config.RefSpec(p.To.String()+":"+p.Ref.String()))
	}
	for _, t := range pushTags {
		if _, there := refs[t]; there {
			continue
		}
		specs = append(specs, config.RefSpec(t.String()+":"+t.String()))
	}
	if len(specs) == 0 {
		return nil
	}
	err := opt.Repo.PushContext(ctx, &git.PushOptions{RemoteName: opt.Remote, RefSpecs: specs, Auth: opt.Auth})
	switch {
	case err == nil, errors.Is(err, git.NoErrAlreadyUpToDate):
	case strings.Contains(err.Error(), "non-fast-forward"):
		return fmt.Errorf("promote %s: %w: the remote refused: %v", model.ShortID(rev), ErrNotFastForward, err)
	default:
		return fmt.Errorf("promote %s: push to %s: %w", model.ShortID(rev), opt.Remote, err)
	}
	// Keep the local view in step with what was pushed.
	if !p.AlreadyThere {
		_ = opt.Repo.Storer.SetReference(plumbing.NewHashReference(plumbing.NewRemoteReferenceName(opt.Remote, p.Ref.Short()), p.To))
	}
	return nil
}

// oneRef returns the single ref a set of clusters tracks ("" for none).
func oneRef(cs []*model.Cluster) (plumbing.ReferenceName, error) {
	set := map[string][]string{}
	for _, c := range cs {
		set[c.Track] = append(set[c.Track], c.Name)
	}
	if len(set) > 1 {
		var parts []string
		for r, ns := range set {
			parts = append(parts, fmt.Sprintf("%s tracked by %s", r, strings.Join(ns, ", ")))
		}
		sort.Strings(parts)
		return "", fmt.Errorf("they track different refs (%s); give them one ref", strings.Join(parts, "; "))
	}
	for r := range set {
		return plumbing.ReferenceName(r), nil
	}
	return "", nil
}

func names(cs []*model.Cluster) string {
	n := make([]string, len(cs))
	for i, c := range cs {
		n[i] = c.Name
	}
	return strings.Join(n, ", ")
}

// currentRefs returns the refs as the promotion target sees them: the
// remote's (listed with a deadline) or the local repository's.
func currentRefs(ctx context.Context, opt PromoteOptions) (map[plumbing.ReferenceName]plumbing.Hash, error) {
	out := map[plumbing.ReferenceName]plumbing.Hash{}
	if opt.Remote == "" {
		iter, err := opt.Repo.References()
		if err != nil {
			return nil, fmt.Errorf("promote: list refs: %w", err)
		}
		err = iter.ForEach(func(r *plumbing.Reference) error {
			if r.Type() == plumbing.HashReference {
				out[r.Name()] = r.Hash()
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("promote: list refs: %w", err)
		}
		return out, nil
	}
	rem, err := opt.Repo.Remote(opt.Remote)
	if err != nil {
		return nil, fmt.Errorf("promote: remote %q: %w", opt.Remote, err)
	}
	list, err := rem.ListContext(ctx, &git.ListOptions{Auth: opt.Auth})
	if err != nil && !errors.Is(err, transport.ErrEmptyRemoteRepository) {
		return nil, fmt.Errorf("promote: list refs of %s: %w", opt.Remote, err)
	}
	for _, r := range list {
		if r.Type() == plumbing.HashReference {
			out[r.Name()] = r.Hash()
		}
	}
	return out, nil
}

// contains says whether anc is desc or one of its ancestors. A commit the
// local repository does not have is not in the history of one it has.
func contains(repo *git.Repository, desc, anc plumbing.Hash) (bool, error) {
	if desc == anc {
		return true, nil
	}
	d, err := repo.CommitObject(desc)
	if err != nil {
		return false, fmt.Errorf("commit %s: %w", desc, err)
	}
	a, err := repo.CommitObject(anc)
	if errors.Is(err, plumbing.ErrObjectNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("commit %s: %w", anc, err)
	}
	return a.IsAncestor(d)
}
