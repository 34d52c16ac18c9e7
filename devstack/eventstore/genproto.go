package eventstore

// The EventStoreDB client requires an old google.golang.org/genproto that
// still held googleapis/rpc, which now lives in its own module; both would
// provide google.golang.org/genproto/googleapis/rpc/status ("ambiguous
// import"). Importing a package of the current genproto keeps the newer
// version selected, so `go mod tidy` cannot drop it.
import _ "google.golang.org/genproto/protobuf/field_mask"
