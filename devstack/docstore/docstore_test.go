package docstore_test

import (
	"context"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/loanflow/loans/devstack/docstore"
)

func TestServer_Restart(t *testing.T) {
	t.Run("DataAndIndexesSurvive", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		dir := t.TempDir()

		srv := start(t, dir)
		coll := connect(t, srv.URI()).Database("test").Collection("things")
		if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: "a"}, {Key: "n", Value: 1}}); err != nil {
			t.Fatalf("insert: %v", err)
		}
		if _, err := coll.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: bson.D{{Key: "n", Value: 1}}}); err != nil {
			t.Fatalf("create index: %v", err)
		}
		_ = coll.Database().Client().Disconnect(ctx)
		if err := srv.Close(); err != nil {
			t.Fatalf("close: %v", err)
		}

		srv = start(t, dir)
		coll = connect(t, srv.URI()).Database("test").Collection("things")
		var got struct{ N int }
		if err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: "a"}}).Decode(&got); err != nil {
			t.Fatalf("find after restart: %v", err)
		}
		if got.N != 1 {
			t.Errorf("n = %d, want 1", got.N)
		}
		specs, err := coll.Indexes().ListSpecifications(ctx)
		if err != nil {
			t.Fatalf("list indexes: %v", err)
		}
		if len(specs) != 2 {
			t.Errorf("%d indexes after restart, want 2 (_id and n)", len(specs))
		}
	})
}

func TestStart(t *testing.T) {
	t.Run("ErrAddrRequired", func(t *testing.T) {
		if _, err := docstore.Start(context.Background(), docstore.Config{Dir: t.TempDir()}); err == nil {
			t.Fatal("want an error")
		}
	})
	t.Run("ErrDirRequired", func(t *testing.T) {
		if _, err := docstore.Start(context.Background(), docstore.Config{Addr: "127.0.0.1:0"}); err == nil {
			t.Fatal("want an error")
		}
	})
}

func start(t *testing.T, dir string) *docstore.Server {
	t.Helper()
	srv, err := docstore.Start(context.Background(), docstore.Config{Addr: "127.0.0.1:0", Dir: dir})
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return srv
}

func connect(t *testing.T, uri string) *mongo.Client {
	t.Helper()
	client, err := mongo.Connect(context.Background(), options.Client().ApplyURI(uri))
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { _ = client.Disconnect(context.Background()) })
	return client
}
