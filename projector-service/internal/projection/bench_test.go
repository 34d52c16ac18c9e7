package projection_test

import (
	"testing"

	"github.com/loanflow/loans/platform/readmodel"
	"github.com/loanflow/loans/projector-service/internal/projection"
)

func BenchmarkDecode(b *testing.B) {
	t := &testing.T{}
	rec := approved.recorded(t)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := projection.Decode(rec); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkProject(b *testing.B) {
	t := &testing.T{}
	app := given(t, requested, submitted, reviewed)
	e := approved.decoded(t)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := projection.Project(app, e); err != nil {
			b.Fatal(err)
		}
	}
	_ = readmodel.Application{}
}
