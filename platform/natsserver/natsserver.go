// Package natsserver runs nats-server in-process with JetStream on disk.
//
// It is what `ballast up` and the tests use: no external nats-server binary
// and no Debian package (which is too old for atomic batches and batched
// direct gets).
package natsserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// RandomPort asks the server to listen on a free port chosen by the kernel.
const RandomPort = server.RANDOM_PORT

// DefaultReadyTimeout is how long Start waits for the server to accept
// connections when Config.ReadyTimeout is zero.
const DefaultReadyTimeout = 10 * time.Second

// ErrNotReady is returned by Start when the server did not become ready for
// connections in time.
var ErrNotReady = errors.New("natsserver: server not ready for connections")

// Config says how to run the embedded server.
type Config struct {
	// Host to listen on; empty means 127.0.0.1 (never all interfaces by
	// accident).
	Host string
	// Port for client connections: RandomPort (-1) picks a free one; 0 is
	// the NATS default, 4222.
	Port int
	// StoreDir is the JetStream storage directory. Required.
	StoreDir string
	// ServerName names the server (and JetStream node); empty lets the
	// server generate one. Every member of a cluster needs its own.
	ServerName string

	// Cluster joins the server to a JetStream cluster; nil runs it alone.
	Cluster *Cluster

	// SyncAlways makes the file store fsync every write. Off by default,
	// where the store syncs every 2 minutes: on a single node a power loss
	// can lose the last writes. Production runs R3 streams instead.
	SyncAlways bool
	// Logger receives the server's log lines. Nil means silent.
	Logger *slog.Logger
	// Debug also forwards the server's debug lines to Logger.
	Debug bool
	// ReadyTimeout bounds the wait for ReadyForConnections; zero means
	// DefaultReadyTimeout.
	ReadyTimeout time.Duration
}

// Cluster says how a server joins a cluster.
type Cluster struct {
	// Name is the cluster's name, the same on every member.
	Name string
	// Port for routes from the other members: RandomPort picks one.
	Port int
	// Routes are the other members' route URLs, e.g.
	// nats://127.0.0.1:6222; the members find the rest of the mesh.
	Routes []string
}

// Server is a running embedded nats-server.
type Server struct {
	ns       *server.Server
	unlock   func()
	shutdown sync.Once
}

// Start starts a nats-server with JetStream in this process and waits until
// it accepts client connections. ctx bounds the wait.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.StoreDir == "" {
		return nil, errors.New("natsserver: StoreDir is required")
	}
	host := cfg.Host
	if host == "" {
		host = "127.0.0.1"
	}
	opts := &server.Options{
		ServerName: cfg.ServerName,
		Host:       host,
		Port:       cfg.Port,
		JetStream:  true,
		StoreDir:   cfg.StoreDir,
		SyncAlways: cfg.SyncAlways,
		NoSigs:     true,
		NoLog:      cfg.Logger == nil,
	}
	if c := cfg.Cluster; c != nil {
		opts.Cluster = server.ClusterOpts{Name: c.Name, Host: host, Port: c.Port}
		for _, r := range c.Routes {
			u, err := url.Parse(r)
			if err != nil {
				return nil, fmt.Errorf("natsserver: route %q: %w", r, err)
			}
			opts.Routes = append(opts.Routes, u)
		}
	}
	unlock, err := lockStore(cfg.StoreDir)
	if err != nil {
		return nil, err
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		unlock()
		return nil, fmt.Errorf("natsserver: configure: %w", err)
	}
	// Always install our logger: nats-server reports fatal start-up errors
	// (port in use, JetStream failing) only through the logger, and the
	// default one would exit the process.
	lg := &logger{slog: cfg.Logger}
	ns.SetLogger(lg, cfg.Debug && cfg.Logger != nil, false)
	ns.Start()

	s := &Server{ns: ns, unlock: unlock}
	addr := net.JoinHostPort(host, strconv.Itoa(cfg.Port))
	if err := s.waitReady(ctx, cfg.ReadyTimeout, lg); err != nil {
		s.Shutdown()
		return nil, fmt.Errorf("natsserver: start on %s: %w", addr, err)
	}
	if !ns.JetStreamEnabled() {
		s.Shutdown()
		return nil, fmt.Errorf("natsserver: start on %s: JetStream not enabled", addr)
	}
	return s, nil
}

func (s *Server) waitReady(ctx context.Context, timeout time.Duration, lg *logger) error {
	if timeout <= 0 {
		timeout = DefaultReadyTimeout
	}
	deadline := time.Now().Add(timeout)
	for {
		if err := lg.fatal(); err != nil {
			return err
		}
		// A short wait per round so that a fatal error or a cancelled
		// context is noticed quickly.
		if s.ns.ReadyForConnections(50 * time.Millisecond) {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if time.Now().After(deadline) {
			if err := lg.fatal(); err != nil {
				return err
			}
			return fmt.Errorf("%w after %s", ErrNotReady, timeout)
		}
	}
}

// ClientURL is the URL clients connect to, e.g. nats://127.0.0.1:40123.
func (s *Server) ClientURL() string { return s.ns.ClientURL() }

// RouteURL is the URL other members of its cluster route to, "" when it
// runs alone.
func (s *Server) RouteURL() string {
	addr := s.ns.ClusterAddr()
	if addr == nil {
		return ""
	}
	return "nats://" + addr.String()
}

// Inner returns the underlying nats-server, for what this package does not
// wrap (monitoring, JetStream limits).
func (s *Server) Inner() *server.Server { return s.ns }

// Shutdown stops the server and waits until it has stopped. It is safe to
// call more than once.
func (s *Server) Shutdown() {
	s.shutdown.Do(func() {
		s.ns.Shutdown()
		s.ns.WaitForShutdown()
		s.unlock()
	})
}

// logger adapts nats-server logging to slog and remembers the first fatal
// error, which would otherwise only be printed.
type logger struct {
	slog *slog.Logger

	mu       sync.Mutex
	fatalErr error
}

func (l *logger) fatal() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.fatalErr
}

func (l *logger) log(level slog.Level, format string, v ...any) {
	if l.slog != nil {
		l.slog.Log(context.Background(), level, fmt.Sprintf(format, v...), "component", "nats-server")
	}
}

// Noticef logs at debug: the server's notices (its banner, each start and
// stop) would drown what an operator of Ballast needs to see.
func (l *logger) Noticef(format string, v ...any) { l.log(slog.LevelDebug, format, v...) }
func (l *logger) Warnf(format string, v ...any)   { l.log(slog.LevelWarn, format, v...) }
func (l *logger) Errorf(format string, v ...any)  { l.log(slog.LevelError, format, v...) }
func (l *logger) Debugf(format string, v ...any)  { l.log(slog.LevelDebug, format, v...) }
func (l *logger) Tracef(format string, v ...any)  { l.log(slog.LevelDebug-4, format, v...) }

// Fatalf records the error instead of exiting: Start turns it into an error.
func (l *logger) Fatalf(format string, v ...any) {
	l.log(slog.LevelError, format, v...)
	l.mu.Lock()
	if l.fatalErr == nil {
		l.fatalErr = fmt.Errorf(format, v...)
	}
	l.mu.Unlock()
}
