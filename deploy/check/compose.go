package check

import (
	"context"
	"path/filepath"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

// ComposeFile is the compose file, relative to the repository root.
const ComposeFile = "deploy/compose/compose.yaml"

// LoadCompose loads the compose file as `docker compose` would, from its own directory, interpolating the
// variables with their defaults only (nothing from this process's environment or a .env file), and
// validating it against the compose specification.
func LoadCompose(ctx context.Context, repoRoot string) (*types.Project, error) {
	path := filepath.Join(repoRoot, ComposeFile)
	opts, err := cli.NewProjectOptions([]string{path},
		cli.WithWorkingDirectory(filepath.Dir(path)),
		cli.WithEnv(nil),
		cli.WithInterpolation(true),
		cli.WithResolvedPaths(true),
	)
	if err != nil {
		return nil, err
	}
	return opts.LoadProject(ctx)
}
