// Package check verifies the deployment files of deploy/ with nothing but Go: the kustomize overlays render
// and every object decodes strictly against the Kubernetes and Prometheus Operator API types, the compose
// file loads and pins its images, the alert rules and the dashboard parse, the metric names they use are the
// ones in monitoring/metrics.txt, and every environment variable the manifests set is one the services read.
//
// Its tests are `make deploy-check`; MetricNames is also what a test against the running services checks.
package check
