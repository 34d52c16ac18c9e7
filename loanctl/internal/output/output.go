// Package output prints the services' answers as a table (text/tabwriter),
// JSON (protojson, the REST bridge's shape) or YAML (the same document).
package output

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"go.yaml.in/yaml/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// Format is how answers are printed.
type Format string

const (
	Table Format = "table"
	JSON  Format = "json"
	YAML  Format = "yaml"
)

// Formats are the formats -o takes.
var Formats = []Format{Table, JSON, YAML}

// ParseFormat reads the value of -o.
func ParseFormat(s string) (Format, error) {
	for _, f := range Formats {
		if string(f) == strings.ToLower(s) {
			return f, nil
		}
	}
	return "", fmt.Errorf("output format %q: want table, json or yaml", s)
}

// Printer prints in one format.
type Printer struct {
	W      io.Writer
	Format Format
}

var marshal = protojson.MarshalOptions{Multiline: true, Indent: "  "}

// Message prints a message; table writes it as a table when that is the
// format.
func (p Printer) Message(m proto.Message, table func(w io.Writer) error) error {
	return p.print(protoJSON(m), false, table)
}

// Value prints a value that is not a message (encoding/json tags name its
// fields in both JSON and YAML).
func (p Printer) Value(v any, table func(w io.Writer) error) error {
	return p.print(func(indent bool) ([]byte, error) {
		if indent {
			return json.MarshalIndent(v, "", "  ")
		}
		return json.Marshal(v)
	}, false, table)
}

// Item prints one item of a stream (watch): a JSON line, a YAML document
// after "---", or a table row.
func (p Printer) Item(m proto.Message, row func(w io.Writer) error) error {
	return p.print(protoJSON(m), true, row)
}

// protoJSON encodes m as the API's JSON, indented or on one line.
func protoJSON(m proto.Message) func(indent bool) ([]byte, error) {
	return func(indent bool) ([]byte, error) {
		if indent {
			return marshal.Marshal(m)
		}
		return protojson.Marshal(m)
	}
}

// print writes a value in the printer's format: JSON (indented, or a line
// of its own for a stream's item), YAML (converted from the JSON, so both
// name fields alike; a stream's item a document of its own), or what table
// writes.
func (p Printer) print(encode func(indent bool) ([]byte, error), item bool, table func(w io.Writer) error) error {
	switch p.Format {
	case JSON:
		b, err := encode(!item)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(p.W, "%s\n", b)
		return err
	case YAML:
		b, err := encode(false)
		if err != nil {
			return err
		}
		if item {
			if _, err := fmt.Fprintln(p.W, "---"); err != nil {
				return err
			}
		}
		return writeYAML(p.W, b)
	default:
		return table(p.W)
	}
}

// writeYAML converts a JSON document to YAML keeping its keys' order: JSON
// is YAML, so it is parsed into a node tree whose flow style is then
// dropped.
func writeYAML(w io.Writer, jsonDoc []byte) error {
	var n yaml.Node
	if err := yaml.Unmarshal(jsonDoc, &n); err != nil {
		return err
	}
	blockStyle(&n)
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&n); err != nil {
		return err
	}
	if err := enc.Close(); err != nil {
		return err
	}
	_, err := w.Write(buf.Bytes())
	return err
}

func blockStyle(n *yaml.Node) {
	n.Style &^= yaml.FlowStyle
	if n.Kind == yaml.ScalarNode && n.Style&yaml.DoubleQuotedStyle != 0 && n.Tag == "!!str" {
		n.Style = 0 // the encoder quotes again what needs it ("true", "12")
	}
	for _, c := range n.Content {
		blockStyle(c)
	}
}

// NewTable is a tabwriter for rows of cells separated by tabs.
func NewTable(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
}

// Row writes one row of cells.
func Row(w io.Writer, cells ...any) {
	for i, c := range cells {
		if i > 0 {
			fmt.Fprint(w, "\t")
		}
		fmt.Fprint(w, c)
	}
	fmt.Fprintln(w)
}
