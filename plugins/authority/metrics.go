package authority

import "github.com/gitops-dns/resolverd/plugins/internal/vars"

// answersTotal counts answers given from internal zones, by zone and
// outcome; the fast path counts its precomputed answers in it too, which is
// why it lives in plugins/internal/vars.
var answersTotal = vars.AuthorityAnswers
