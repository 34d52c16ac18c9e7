package identity

import (
	_ "embed"
	"html/template"
	"net/http"

	"github.com/zitadel/oidc/v3/pkg/op"
)

//go:embed login.html
var loginHTML string

var loginPage = template.Must(template.New("login").Parse(loginHTML))

type loginView struct {
	Action   string
	ID       string // the auth request ID
	ClientID string
	Username string
	Error    string
}

// loginHandler is the login page of the authorization-code flow. op sends
// the browser to GET /login?id=<auth request ID>; the form posts the ID with
// the credentials; on success the request is completed and the browser goes
// on to op's callback, which redirects to the client with the code.
//
// The auth request ID is random, lives 10 minutes and is completed once, so
// it is the form's CSRF token: a page elsewhere cannot know a victim's ID,
// and making the victim complete the attacker's own request yields a code
// only the attacker's client instance can redeem (it alone holds the PKCE
// verifier and the state). Framing is refused (clickjacking), nothing is
// cached, and no Referer leaks the ID.
func (p *Provider) loginHandler() http.Handler {
	callbackURL := func(r *http.Request, id string) string {
		ctx := op.ContextWithIssuer(r.Context(), p.cfg.Issuer)
		return op.AuthCallbackURL(p.op)(ctx, id)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Cache-Control", "no-store")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Content-Type-Options", "nosniff")

		var id string
		switch r.Method {
		case http.MethodGet, http.MethodHead:
			id = r.URL.Query().Get("id")
		case http.MethodPost:
			if err := r.ParseForm(); err != nil {
				p.renderLogin(w, http.StatusBadRequest, loginView{Error: "The form could not be read."})
				return
			}
			id = r.PostForm.Get("id")
		default:
			h.Set("Allow", "GET, HEAD, POST")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		req, ok := p.storage.pendingAuthRequest(id)
		if !ok {
			p.renderLogin(w, http.StatusBadRequest, loginView{
				Error: "This sign-in request is unknown, expired or already used. Go back to the application and sign in again.",
			})
			return
		}
		view := loginView{Action: loginPath, ID: req.id, ClientID: req.clientID}
		if r.Method != http.MethodPost {
			p.renderLogin(w, http.StatusOK, view)
			return
		}
		view.Username = r.PostForm.Get("username")
		u, ok := p.storage.directory().authenticate(view.Username, r.PostForm.Get("password"))
		if !ok {
			p.logger.Warn("identity: login refused", "client_id", req.clientID, "username", view.Username)
			view.Error = "Invalid username or password."
			p.renderLogin(w, http.StatusOK, view)
			return
		}
		if !p.storage.completeAuthRequest(req.id, u.subject) {
			p.renderLogin(w, http.StatusBadRequest, loginView{Error: "This sign-in request expired or was already used. Go back to the application and sign in again."})
			return
		}
		p.logger.Info("identity: login", "client_id", req.clientID, "sub", u.subject)
		http.Redirect(w, r, callbackURL(r, req.id), http.StatusSeeOther)
	})
}

func (p *Provider) renderLogin(w http.ResponseWriter, status int, v loginView) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := loginPage.Execute(w, v); err != nil {
		p.logger.Error("identity: login page", "error", err)
	}
}
