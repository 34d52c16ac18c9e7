package eventstore

import (
	"context"

	"github.com/EventStore/EventStore-Client-Go/v4/protos/serverfeatures"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/shared"
)

// ProtocolVersion is the EventStoreDB version whose gRPC protocol the store
// follows; clients read it to decide which features they may use.
const ProtocolVersion = "24.10.0"

type featuresService struct {
	serverfeatures.UnimplementedServerFeaturesServer
}

// GetSupportedMethods lists exactly what is implemented. BatchAppend is left
// out, so clients that prefer it fall back to Append.
func (featuresService) GetSupportedMethods(context.Context, *shared.Empty) (*serverfeatures.SupportedMethods, error) {
	const streamsService = "event_store.client.streams.streams"
	return &serverfeatures.SupportedMethods{
		EventStoreServerVersion: ProtocolVersion,
		Methods: []*serverfeatures.SupportedMethod{
			{ServiceName: streamsService, MethodName: "read", Features: []string{"position", "events", "all", "stream", "filter", "subscription"}},
			{ServiceName: streamsService, MethodName: "append"},
			{ServiceName: streamsService, MethodName: "delete", Features: []string{"position"}},
			{ServiceName: streamsService, MethodName: "tombstone", Features: []string{"position"}},
			{ServiceName: "event_store.client.server_features.serverfeatures", MethodName: "getsupportedmethods"},
		},
	}, nil
}
