package check

import (
	"bufio"
	"fmt"
	"os"
	"strings"
)

// DockerfilePath is the Dockerfile, relative to the repository root.
const DockerfilePath = "deploy/Dockerfile"

// Stage is one build stage of a Dockerfile: its name, base image (ARG defaults substituted) and the
// variables its ENV instructions set.
type Stage struct {
	Name, From string
	Env        []string
}

// ParseDockerfile reads the stages of a Dockerfile. It knows the instructions deploy/Dockerfile uses:
// FROM, ARG (before the first FROM), ENV in its KEY=VALUE form, and continuation lines.
func ParseDockerfile(path string) ([]Stage, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	args := map[string]string{}
	var stages []Stage
	var line string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		text := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(text, "#") && line == "" {
			continue
		}
		if cont, ok := strings.CutSuffix(text, "\\"); ok {
			line += cont + " "
			continue
		}
		line += text
		fields := strings.Fields(line)
		line = ""
		if len(fields) == 0 {
			continue
		}
		switch strings.ToUpper(fields[0]) {
		case "ARG":
			if len(stages) == 0 && len(fields) == 2 {
				k, v, _ := strings.Cut(fields[1], "=")
				args[k] = v
			}
		case "FROM":
			s := Stage{From: os.Expand(fields[1], func(k string) string { return args[k] })}
			if len(fields) == 4 && strings.EqualFold(fields[2], "AS") {
				s.Name = fields[3]
			}
			for _, prev := range stages {
				if prev.Name != "" && prev.Name == s.From {
					s.Env = append(s.Env, prev.Env...)
				}
			}
			stages = append(stages, s)
		case "ENV":
			if len(stages) == 0 {
				return nil, fmt.Errorf("%s: ENV before FROM", path)
			}
			for _, kv := range fields[1:] {
				k, _, ok := strings.Cut(kv, "=")
				if !ok {
					return nil, fmt.Errorf("%s: ENV %s: use the KEY=VALUE form", path, kv)
				}
				stages[len(stages)-1].Env = append(stages[len(stages)-1].Env, k)
			}
		}
	}
	return stages, sc.Err()
}
