package apiserver

// PinnedTLS lets the tests check that the gateway trusts its own
// certificate and no other.
var PinnedTLS = pinnedTLS
