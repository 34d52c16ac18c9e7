package projection_test

import (
	"testing"

	"github.com/loanflow/loans/projector-service/internal/projection"
)

func BenchmarkDecode(b *testing.B) {
	rec := approved.recorded(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := projection.Decode(rec); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkProject(b *testing.B) {
	app := given(b, requested, submitted, reviewed)
	e := approved.decoded(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := projection.Project(app, e); err != nil {
			b.Fatal(err)
		}
	}
}
