package command

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"

	"github.com/loanflow/loans/command-service/internal/domain"
	"github.com/loanflow/loans/platform/auth"
)

// commandDigest identifies a command by what it is, beyond its ID: its type,
// its content and who sent it. Two sends are the same command exactly when
// their digests are equal.
func commandDigest(action Action, cmd domain.Command, caller auth.Principal) string {
	if r, ok := cmd.(domain.RequestLoan); ok {
		// The limits are the service's configuration, not the client's
		// command: a retry after a configuration change is the same command.
		r.Limits = domain.Limits{}
		cmd = r
	}
	// The domain commands are flat structs of strings, numbers and UUIDs:
	// their JSON is canonical (fields in declaration order).
	content, err := json.Marshal(cmd)
	if err != nil {
		panic("command: a domain command does not encode: " + err.Error())
	}
	h := sha256.New()
	for _, part := range [][]byte{[]byte(action), content, []byte(caller.Issuer), []byte(caller.Subject)} {
		h.Write(part)
		h.Write([]byte{0}) // no part contains NUL, so the parts cannot run into each other
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}
