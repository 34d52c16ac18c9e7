package sqlitestore

import (
	"bytes"
	"encoding/base64"
	"encoding/json"

	"github.com/loanflow/loans/platform/readmodel"
)

// cursor is where a page ended: the order it was made for, the last item's
// sort key (as stored: microseconds or an amount) and its ID. It travels as
// unpadded base64url JSON.
type cursor struct {
	Order *readmodel.Order `json:"o"`
	Key   *int64           `json:"k"`
	ID    string           `json:"i"`
}

func encodeCursor(o readmodel.Order, key int64, id string) string {
	b, _ := json.Marshal(cursor{Order: &o, Key: &key, ID: id}) // cannot fail
	return base64.RawURLEncoding.EncodeToString(b)
}

// decodeCursor validates a cursor for order o: readmodel.ErrInvalidCursor
// unless it is one encodeCursor made for that order.
func decodeCursor(s string, o readmodel.Order) (cursor, error) {
	var c cursor
	if len(s) > 1024 {
		return c, readmodel.ErrInvalidCursor
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return c, readmodel.ErrInvalidCursor
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil || dec.More() {
		return c, readmodel.ErrInvalidCursor
	}
	if c.Order == nil || *c.Order != o || c.Key == nil || c.ID == "" {
		return c, readmodel.ErrInvalidCursor
	}
	return c, nil
}
