package auth

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Claims are a JWT's claims, decoded WITHOUT verifying its signature: good
// for showing who a cached token says it is, never for deciding anything.
// The services verify every token they are sent.
type Claims map[string]any

// DecodeClaims reads the payload of a JWT (header.payload.signature).
func DecodeClaims(jwt string) (Claims, error) {
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return nil, errors.New("not a JWT (an opaque token: its claims cannot be read)")
	}
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return nil, fmt.Errorf("JWT payload: %w", err)
	}
	var c Claims
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("JWT payload: %w", err)
	}
	return c, nil
}

// String is a string claim ("" when absent or not a string).
func (c Claims) String(name string) string {
	s, _ := c[name].(string)
	return s
}

// Strings is a claim holding a list of strings, or one string.
func (c Claims) Strings(name string) []string {
	switch v := c[name].(type) {
	case string:
		return []string{v}
	case []any:
		out := make([]string, 0, len(v))
		for _, e := range v {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// Time is a NumericDate claim such as exp (zero when absent).
func (c Claims) Time(name string) time.Time {
	if f, ok := c[name].(float64); ok {
		return time.Unix(int64(f), 0)
	}
	return time.Time{}
}

// Expiry is the exp claim.
func (c Claims) Expiry() time.Time { return c.Time("exp") }
