// Package natsconn opens what every Ballast process needs from NATS: a
// connection, JetStream, the event store, the event log's streams, and a way
// to open more connections for Watermill subscribers.
package natsconn

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"ballast.dev/platform/events"
	"ballast.dev/platform/eventstore"
)

// Options say where NATS is.
type Options struct {
	// URL of the NATS server, e.g. nats://127.0.0.1:4222.
	URL string
	// InProcess, when set, connects to an embedded server without sockets.
	InProcess *server.Server
	// Name identifies the client to the server, e.g. "ballast-volume".
	Name string
	// Replicas of the event streams; 0 means 1.
	Replicas int
	Logger   *slog.Logger
}

// Conn is an open connection with its JetStream context and event store.
type Conn struct {
	NC     *nats.Conn
	JS     jetstream.JetStream
	Store  *eventstore.Store
	Logger *slog.Logger
	opts   Options
}

// Dial connects and makes sure the event log's streams exist.
func Dial(ctx context.Context, o Options) (*Conn, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Replicas < 0 || o.Replicas > 5 {
		return nil, fmt.Errorf("stream replicas %d: JetStream keeps 1 to 5 copies of a stream", o.Replicas)
	}
	c := &Conn{opts: o, Logger: o.Logger}
	nc, err := c.Connect()
	if err != nil {
		return nil, err
	}
	if err := checkVersion(nc.ConnectedServerVersion()); err != nil {
		url := nc.ConnectedUrlRedacted()
		nc.Close()
		return nil, fmt.Errorf("nats at %s: %w", url, err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	c.NC, c.JS, c.Store = nc, js, eventstore.New(js)
	if err := events.EnsureStreams(ctx, c.Store, o.Replicas); err != nil {
		nc.Close()
		return nil, fmt.Errorf("event streams: %w", err)
	}
	return c, nil
}

// MinServerVersion is the oldest nats-server Ballast runs on: atomic batch
// publish (2.12), batched direct get and the wildcard expected-sequence
// header (2.11).
const MinServerVersion = "2.12.0"

// ErrServerTooOld: the server lacks what the event log needs.
var ErrServerTooOld = errors.New("nats-server too old")

// checkVersion refuses servers older than MinServerVersion.
func checkVersion(v string) error {
	have, err := parseVersion(v)
	if err != nil {
		return fmt.Errorf("server version %q: %w", v, err)
	}
	need, _ := parseVersion(MinServerVersion)
	for i := range need {
		if have[i] != need[i] {
			if have[i] < need[i] {
				return fmt.Errorf("%w: version %s; Ballast needs %s or later (JetStream atomic batch publish)", ErrServerTooOld, v, MinServerVersion)
			}
			return nil
		}
	}
	return nil
}

func parseVersion(v string) ([3]int, error) {
	var out [3]int
	core, _, _ := strings.Cut(strings.TrimPrefix(v, "v"), "-")
	parts := strings.Split(core, ".")
	if len(parts) != 3 {
		return out, errors.New("not major.minor.patch")
	}
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil {
			return out, err
		}
		out[i] = n
	}
	return out, nil
}

// Connect opens another connection to the same server.
func (c *Conn) Connect() (*nats.Conn, error) {
	opts := []nats.Option{
		nats.Name(c.opts.Name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.DisconnectErrHandler(func(nc *nats.Conn, err error) {
			if err != nil {
				c.Logger.Warn("nats disconnected", "conn", nc.Opts.Name, "err", err)
			}
		}),
	}
	url := c.opts.URL
	if c.opts.InProcess != nil {
		opts = append(opts, nats.InProcessServer(c.opts.InProcess))
		url = ""
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return nil, fmt.Errorf("connect to nats %s: %w", c.opts.URL, err)
	}
	return nc, nil
}

// Close drains and closes the connection.
func (c *Conn) Close() {
	if c.NC != nil {
		_ = c.NC.Drain()
	}
}
