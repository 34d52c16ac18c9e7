package identity

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// defaultUsersFile is the users and clients of development and tests.
//
//go:embed users.yaml
var defaultUsersFile []byte

// What the services reserve for their own identities (platform/auth's
// RoleSystem and ReservedSubjectPrefix; devstack cannot import platform).
// A token must never carry them, so no file may grant them.
const (
	reservedRole          = "system"
	reservedSubjectPrefix = "system:"
)

// The grant types a client may be given in the file. refresh_token lets a
// client ask for offline_access with the password and authorization_code
// grants (never with client_credentials) and then use the refresh tokens.
const (
	grantPassword          = "password"
	grantAuthorizationCode = "authorization_code"
	grantClientCredentials = "client_credentials"
	grantRefreshToken      = "refresh_token"
)

// The kinds of client (RFC 6749 section 2.1 and RFC 8252).
const (
	clientNative       = "native"       // public: CLIs, desktop apps; loopback redirects on any port
	clientBrowser      = "browser"      // public: single-page apps
	clientConfidential = "confidential" // has a secret
)

// Directory is the users and clients the provider knows: the file
// devstack/identity/users.yaml (embedded) or another of the same shape.
// It is DEVELOPMENT ONLY: passwords and secrets are plain text.
type Directory struct {
	source     string
	users      map[string]*user      // by name
	principals map[string]*principal // by subject: users and service accounts
	clients    map[string]*client    // by id
}

// principal is whoever a token is about: a user, or a confidential client
// acting for itself (client_credentials).
type principal struct {
	subject  string
	username string // preferred_username
	roles    []string
	disabled bool // a user who may no longer log in or refresh
}

type user struct {
	name     string
	password string
	*principal
}

type client struct {
	id         string
	kind       string
	secret     string
	grants     []string
	redirects  []redirectPattern
	postLogout []string
}

func (c *client) allows(grant string) bool { return slices.Contains(c.grants, grant) }

func (c *client) public() bool { return c.kind != clientConfidential }

// redirectAllowed tells whether redirectURI is one the client registered.
func (c *client) redirectAllowed(redirectURI string) bool {
	return slices.ContainsFunc(c.redirects, func(p redirectPattern) bool { return p.match(redirectURI) })
}

type usersFile struct {
	Users   []fileUser   `yaml:"users"`
	Clients []fileClient `yaml:"clients"`
}

type fileUser struct {
	Name     string   `yaml:"name"`
	Subject  string   `yaml:"subject"`
	Password string   `yaml:"password"`
	Roles    []string `yaml:"roles"`
	Disabled bool     `yaml:"disabled"`
}

type fileClient struct {
	ID                     string   `yaml:"id"`
	Type                   string   `yaml:"type"`
	Secret                 string   `yaml:"secret"`
	Grants                 []string `yaml:"grants"`
	RedirectURIs           []string `yaml:"redirect_uris"`
	PostLogoutRedirectURIs []string `yaml:"post_logout_redirect_uris"`
	Roles                  []string `yaml:"roles"`
}

// DefaultDirectory is the embedded devstack/identity/users.yaml.
func DefaultDirectory() (*Directory, error) {
	return ParseDirectory("embedded users.yaml", defaultUsersFile)
}

// LoadDirectory reads a users file.
func LoadDirectory(path string) (*Directory, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseDirectory(path, data)
}

// ParseDirectory parses a users file; source names it in errors. It refuses
// unknown fields, empty or duplicate names, subjects and client ids, the
// role "system" and subjects starting with "system:", and clients whose
// type, grants and redirect URIs do not fit together. The error lists every
// problem found.
func ParseDirectory(source string, data []byte) (*Directory, error) {
	var f usersFile
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		if errors.Is(err, io.EOF) {
			err = errors.New("the file is empty")
		}
		return nil, fmt.Errorf("users file %s: %w", source, err)
	}
	if err := dec.Decode(new(usersFile)); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("users file %s: holds more than one YAML document", source)
	}
	d, errs := build(source, f)
	if len(errs) > 0 {
		return nil, fmt.Errorf("users file %s: %w", source, errors.Join(errs...))
	}
	return d, nil
}

func build(source string, f usersFile) (*Directory, []error) {
	d := &Directory{
		source:     source,
		users:      map[string]*user{},
		principals: map[string]*principal{},
		clients:    map[string]*client{},
	}
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	for i, fu := range f.Users {
		where := fmt.Sprintf("user %d (%q)", i+1, fu.Name)
		if err := checkName(fu.Name); err != nil {
			bad("%s: name %w", where, err)
			continue
		}
		if d.users[fu.Name] != nil {
			bad("%s: duplicate user name", where)
			continue
		}
		subject := fu.Subject
		if subject == "" {
			subject = fu.Name
		}
		if err := checkSubject(subject); err != nil {
			bad("%s: subject %q %w", where, subject, err)
			continue
		}
		if d.principals[subject] != nil {
			bad("%s: subject %q is already another user's", where, subject)
			continue
		}
		if fu.Password == "" {
			bad("%s: empty password", where)
		}
		roles, err := checkRoles(fu.Roles)
		if err != nil {
			bad("%s: %w", where, err)
		}
		u := &user{name: fu.Name, password: fu.Password,
			principal: &principal{subject: subject, username: fu.Name, roles: roles, disabled: fu.Disabled}}
		d.users[u.name] = u
		d.principals[subject] = u.principal
	}

	for i, fc := range f.Clients {
		where := fmt.Sprintf("client %d (%q)", i+1, fc.ID)
		if err := checkName(fc.ID); err != nil {
			bad("%s: id %w", where, err)
			continue
		}
		if d.clients[fc.ID] != nil {
			bad("%s: duplicate client id", where)
			continue
		}
		c := &client{id: fc.ID, kind: fc.Type, secret: fc.Secret, postLogout: fc.PostLogoutRedirectURIs}
		d.clients[c.id] = c
		switch fc.Type {
		case clientNative, clientBrowser:
			if fc.Secret != "" {
				bad("%s: a %s client is public and has no secret", where, fc.Type)
			}
		case clientConfidential:
			if fc.Secret == "" {
				bad("%s: a confidential client needs a secret", where)
			}
		default:
			bad("%s: type %q is none of native, browser, confidential", where, fc.Type)
		}
		if len(fc.Grants) == 0 {
			bad("%s: no grants", where)
		}
		for _, g := range fc.Grants {
			switch {
			case slices.Contains(c.grants, g):
				bad("%s: grant %q given twice", where, g)
			case g == grantClientCredentials && fc.Type != clientConfidential:
				bad("%s: client_credentials needs a confidential client", where)
			case g == grantPassword, g == grantAuthorizationCode, g == grantClientCredentials, g == grantRefreshToken:
			default:
				bad("%s: grant %q is none of password, authorization_code, client_credentials, refresh_token", where, g)
			}
			c.grants = append(c.grants, g)
		}
		if c.allows(grantRefreshToken) && !c.allows(grantPassword) && !c.allows(grantAuthorizationCode) {
			bad("%s: refresh_token goes with the password or authorization_code grant: refresh tokens are a user's", where)
		}
		if c.allows(grantAuthorizationCode) != (len(fc.RedirectURIs) > 0) {
			bad("%s: redirect_uris go with the authorization_code grant, and it needs some", where)
		}
		for _, raw := range fc.RedirectURIs {
			p, err := parseRedirectPattern(raw)
			if err != nil {
				bad("%s: redirect URI %q %w", where, raw, err)
				continue
			}
			if fc.Type == clientNative && p.scheme == "http" && !isLoopbackHost(p.host) {
				bad("%s: redirect URI %q: a native client's http redirects must be on loopback (RFC 8252)", where, raw)
			}
			c.redirects = append(c.redirects, p)
		}
		for _, raw := range fc.PostLogoutRedirectURIs {
			if p, err := parseRedirectPattern(raw); err != nil || !p.exact() {
				bad("%s: post-logout redirect URI %q must be an exact http(s) URI", where, raw)
			}
		}
		if c.allows(grantClientCredentials) {
			if err := checkSubject(c.id); err != nil {
				bad("%s: id %q is the subject of its tokens and %w", where, c.id, err)
			} else if d.principals[c.id] != nil {
				bad("%s: id %q is the subject of its tokens and already a user's", where, c.id)
			} else {
				roles, err := checkRoles(fc.Roles)
				if err != nil {
					bad("%s: %w", where, err)
				}
				d.principals[c.id] = &principal{subject: c.id, username: c.id, roles: roles}
			}
		} else if len(fc.Roles) > 0 {
			bad("%s: roles go with the client_credentials grant (a user's roles are the user's)", where)
		}
	}
	return d, errs
}

func checkName(s string) error {
	switch {
	case s == "":
		return errors.New("is empty")
	case len(s) > 255:
		return errors.New("is longer than 255 bytes")
	case !utf8.ValidString(s):
		return errors.New("is not UTF-8")
	case strings.IndexFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0:
		return errors.New("has spaces or control characters")
	}
	return nil
}

func checkSubject(s string) error {
	if err := checkName(s); err != nil {
		return err
	}
	if strings.HasPrefix(s, reservedSubjectPrefix) {
		return fmt.Errorf("starts with %q, reserved for the services' own identities", reservedSubjectPrefix)
	}
	return nil
}

func checkRoles(roles []string) ([]string, error) {
	out := make([]string, 0, len(roles))
	for _, r := range roles {
		if err := checkName(r); err != nil {
			return nil, fmt.Errorf("role %q %w", r, err)
		}
		if r == reservedRole {
			return nil, fmt.Errorf("role %q is reserved for the services' own identities", r)
		}
		if slices.Contains(out, r) {
			return nil, fmt.Errorf("role %q given twice", r)
		}
		out = append(out, r)
	}
	return out, nil
}

// Source names where the directory was read from.
func (d *Directory) Source() string { return d.source }

// Usernames are the users' names, sorted.
func (d *Directory) Usernames() []string {
	names := make([]string, 0, len(d.users))
	for n := range d.users {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// authenticate returns the user with this name and password, unless
// disabled. It takes as long for an unknown name as for a wrong password.
func (d *Directory) authenticate(name, password string) (*user, bool) {
	u := d.users[name]
	want := "\x00unknown user"
	if u != nil {
		want = u.password
	}
	if !secretEqual(password, want) || u == nil || u.disabled {
		return nil, false
	}
	return u, true
}

// active is the user or service account a token may still be issued for:
// nil when the subject is unknown or disabled.
func (d *Directory) active(subject string) *principal {
	p := d.principals[subject]
	if p == nil || p.disabled {
		return nil
	}
	return p
}

// authenticateClient returns the confidential client with this id and secret.
func (d *Directory) authenticateClient(id, secret string) (*client, bool) {
	c := d.clients[id]
	want := "\x00unknown client"
	if c != nil && !c.public() {
		want = c.secret
	}
	if !secretEqual(secret, want) || c == nil || c.public() {
		return nil, false
	}
	return c, true
}

func secretEqual(got, want string) bool {
	g, w := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(want))
	return subtle.ConstantTimeCompare(g[:], w[:]) == 1
}
