package bus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// StreamConfig shapes the JetStream assets. The zero value is not useful: start from
// DefaultStreamConfig.
type StreamConfig struct {
	// Replicas of each stream: 1 for a single server, 3 for a production cluster.
	Replicas int
	// MaxRequestAge bounds how long an accepted request may wait; it should exceed the longest
	// request deadline.
	MaxRequestAge time.Duration
	// DuplicateWindow is how long a request id is remembered, so that a request published
	// twice under one id runs once. The gateway never publishes a request again (a failed
	// publish is a 503 for the client to retry, under a new id), so seconds suffice. The server keeps every id of the window in memory: at 10,000 requests a
	// second, each second of window is some 1.5 MB.
	DuplicateWindow time.Duration
	// UsageDuplicateWindow is how long a usage batch's id is remembered, so a batch a worker
	// publishes again after a lost acknowledgement is stored once. Batches are few; the window
	// can be long.
	UsageDuplicateWindow time.Duration
	// MaxMsgSize is the largest request the stream takes, in bytes.
	MaxMsgSize int32
	// Memory keeps streams in memory rather than on disk (tests, benchmarks).
	Memory bool
	// MemoryRequests keeps LLM_REQUESTS alone in memory. The all-in-one sets it: its requests
	// cannot outlive the process that holds their clients' connections, so writing each to disk
	// costs a write per request for nothing, and replaying them after a crash would only pay
	// providers for answers nobody reads. Usage and the buckets stay on disk.
	MemoryRequests bool
	// JoinRequests takes LLM_REQUESTS as it is when it exists and never changes it, creating
	// it only when it does not: workers set it. Their credentials may create the stream but
	// not update it (see Permissions), so they cannot reshape it to inject requests; the
	// gateways own its configuration.
	JoinRequests bool
}

// DefaultStreamConfig is the configuration of a single-server deployment.
func DefaultStreamConfig() StreamConfig {
	return StreamConfig{
		Replicas:             1,
		MaxRequestAge:        15 * time.Minute,
		DuplicateWindow:      5 * time.Second,
		UsageDuplicateWindow: 10 * time.Minute,
		MaxMsgSize:           MaxMessageBytes,
	}
}

// ProviderTTL is how long a provider stays in the registry after its last announcement.
const ProviderTTL = 30 * time.Second

// Setup creates or updates the streams and the provider bucket. Gateways and workers both call
// it at start, so any of them may come up first.
func Setup(ctx context.Context, js jetstream.JetStream, cfg StreamConfig) error {
	storage := jetstream.FileStorage
	if cfg.Memory {
		storage = jetstream.MemoryStorage
	}
	reqStorage := storage
	if cfg.MemoryRequests {
		reqStorage = jetstream.MemoryStorage
	}
	if err := setupRequests(ctx, js, cfg, reqStorage); err != nil {
		return err
	}
	if _, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        UsageStream,
		Description: "What every answered request consumed",
		Subjects:    []string{usagePrefix + ">"},
		Retention:   jetstream.LimitsPolicy,
		Storage:     storage,
		Replicas:    cfg.Replicas,
		MaxAge:      7 * 24 * time.Hour,
		Duplicates:  cfg.UsageDuplicateWindow,
	}); err != nil {
		return fmt.Errorf("set up stream %s: %w", UsageStream, err)
	}
	kvStorage := jetstream.FileStorage
	if cfg.Memory {
		kvStorage = jetstream.MemoryStorage
	}
	if _, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      ProviderBucket,
		Description: "Providers that workers serve, announced periodically",
		TTL:         ProviderTTL,
		Storage:     kvStorage,
		Replicas:    cfg.Replicas,
		History:     1,
	}); err != nil {
		return fmt.Errorf("set up key-value bucket %s: %w", ProviderBucket, err)
	}
	return nil
}

// setupRequests creates or updates LLM_REQUESTS; with cfg.JoinRequests it only creates it
// if it does not exist.
func setupRequests(ctx context.Context, js jetstream.JetStream, cfg StreamConfig, reqStorage jetstream.StorageType) error {
	if cfg.JoinRequests {
		_, err := js.Stream(ctx, RequestStream)
		if err == nil {
			return nil
		}
		if !errors.Is(err, jetstream.ErrStreamNotFound) {
			return fmt.Errorf("set up stream %s: %w", RequestStream, err)
		}
	}
	if st, err := js.Stream(ctx, RequestStream); err == nil && st.CachedInfo().Config.Storage != reqStorage {
		if !cfg.MemoryRequests {
			// An all-in-one made it (in memory) and a separate process joins: keep it as it is,
			// since a stream's storage cannot change in place.
			reqStorage = st.CachedInfo().Config.Storage
		} else if err := js.DeleteStream(ctx, RequestStream); err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
			// A store directory from a run that kept requests on disk: those requests are
			// disposable (see MemoryRequests).
			return fmt.Errorf("replace stream %s with one in memory: %w", RequestStream, err)
		}
	}
	reqCfg := jetstream.StreamConfig{
		Name:        RequestStream,
		Description: "LLM requests accepted by a gateway, waiting for a provider worker",
		Subjects:    []string{requestPrefix + ">"},
		Retention:   jetstream.WorkQueuePolicy,
		Storage:     reqStorage,
		Replicas:    cfg.Replicas,
		MaxAge:      cfg.MaxRequestAge,
		Duplicates:  cfg.DuplicateWindow,
		MaxMsgSize:  cfg.MaxMsgSize,
		Discard:     jetstream.DiscardOld,
	}
	if cfg.JoinRequests {
		// Create, not update: a gateway that made it meanwhile made it its way.
		if _, err := js.CreateStream(ctx, reqCfg); err != nil && !errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			return fmt.Errorf("set up stream %s: %w", RequestStream, err)
		}
		return nil
	}
	if _, err := js.CreateOrUpdateStream(ctx, reqCfg); err != nil {
		return fmt.Errorf("set up stream %s: %w", RequestStream, err)
	}
	return nil
}

// ConsumerConfig shapes the durable consumer of one provider.
type ConsumerConfig struct {
	// MaxInFlight is the cluster-wide number of requests to this provider that workers may hold
	// at once.
	MaxInFlight int
	// AckWait is how long a worker may go silent before its request is handed to another
	// worker. Workers send progress acks every sixth of it while they work.
	AckWait time.Duration
	// MaxDeliver bounds how often one request is tried when workers keep dying on it.
	MaxDeliver int
}

// EnsureConsumer creates or updates the durable pull consumer of a provider.
func EnsureConsumer(ctx context.Context, js jetstream.JetStream, provider string, cfg ConsumerConfig) (jetstream.Consumer, error) {
	c, err := js.CreateOrUpdateConsumer(ctx, RequestStream, jetstream.ConsumerConfig{
		Durable:       ConsumerName(provider),
		Description:   "Workers of provider " + provider,
		FilterSubject: RequestSubject(provider),
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       cfg.AckWait,
		MaxAckPending: cfg.MaxInFlight,
		MaxDeliver:    cfg.MaxDeliver,
		DeliverPolicy: jetstream.DeliverAllPolicy,
	})
	if err != nil {
		return nil, fmt.Errorf("set up consumer for provider %s: %w", provider, err)
	}
	return c, nil
}

// ProviderInfo is what a worker announces of a provider it serves.
type ProviderInfo struct {
	Name        string   `json:"name"`
	Format      string   `json:"format"`
	Models      []string `json:"models"`
	Embeddings  bool     `json:"embeddings"`
	CountTokens bool     `json:"count_tokens"`
}

// Announce puts a provider into the registry; workers repeat it well within ProviderTTL.
func Announce(ctx context.Context, kv jetstream.KeyValue, info ProviderInfo) error {
	b, err := json.Marshal(info)
	if err != nil {
		return fmt.Errorf("announce provider %s: %w", info.Name, err)
	}
	if _, err := kv.Put(ctx, info.Name, b); err != nil {
		return fmt.Errorf("announce provider %s: %w", info.Name, err)
	}
	return nil
}

// DecodeProviderInfo reads one registry entry.
func DecodeProviderInfo(b []byte) (ProviderInfo, error) {
	var info ProviderInfo
	if err := json.Unmarshal(b, &info); err != nil {
		return ProviderInfo{}, fmt.Errorf("decode provider info: %w", err)
	}
	if info.Name == "" {
		return ProviderInfo{}, errors.New("decode provider info: no name")
	}
	return info, nil
}
