// Package gen holds the code generated from proto/ by `make generate`. Never
// edit it by hand; `make test` fails when it is stale.
package gen
