package cli

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	ballastv1 "ballast.dev/proto/ballast/v1"
)

// client holds one connection to the gateway and the service stubs on it.
type client struct {
	addr       string
	conn       *grpc.ClientConn
	volumes    ballastv1.VolumeServiceClient
	nodes      ballastv1.NodeServiceClient
	migrations ballastv1.MigrationServiceClient
	sim        ballastv1.SimServiceClient
	events     ballastv1.EventServiceClient
	placement  ballastv1.PlacementServiceClient
}

// dial prepares a connection to addr; it connects on the first call.
func dial(addr string) (*client, error) {
	// Plain text for now: the gateway listens on loopback. TLS comes with
	// tenants (DESIGN.md, "Production").
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, usageErrorf("--addr %q: %v", addr, err)
	}
	return &client{
		addr:       addr,
		conn:       conn,
		volumes:    ballastv1.NewVolumeServiceClient(conn),
		nodes:      ballastv1.NewNodeServiceClient(conn),
		migrations: ballastv1.NewMigrationServiceClient(conn),
		sim:        ballastv1.NewSimServiceClient(conn),
		events:     ballastv1.NewEventServiceClient(conn),
		placement:  ballastv1.NewPlacementServiceClient(conn),
	}, nil
}

// unreachable reports whether err means the gateway was never reached, rather
// than an error the gateway sent: the call failed for want of a connection.
func (c *client) unreachable(err error) bool {
	switch status.Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded:
		return c.conn.GetState() != connectivity.Ready
	}
	return false
}

// action is the body of a client command.
type action func(ctx context.Context, cmd *cobra.Command, args []string, c *client) error

// run turns an action into a cobra RunE: it bounds the command by --timeout,
// dials the gateway and turns transport failures, timeouts and interrupts
// into errors a person can act on. An endless command (events watch) has no
// limit unless --timeout is given.
func (g *globals) run(endless bool, fn action) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		parent := cmd.Context()
		if parent == nil {
			parent = context.Background()
		}
		timeout := g.timeout
		if endless && !cmd.Flags().Changed("timeout") {
			timeout = 0
		}
		ctx, cancel := parent, context.CancelFunc(func() {})
		if timeout > 0 {
			ctx, cancel = context.WithTimeout(parent, timeout)
		}
		defer cancel()

		c, err := dial(g.addr)
		if err != nil {
			return err
		}
		defer c.conn.Close()

		err = fn(ctx, cmd, args, c)
		var unknown outcomeUnknownError
		switch {
		case err == nil:
			return nil
		case errors.As(err, &unknown):
			return err
		case parent.Err() != nil:
			if errors.Is(err, errInterrupted) {
				return err
			}
			return errInterrupted
		case c.unreachable(err):
			return unreachableError{addr: c.addr, err: err}
		case status.Code(err) == codes.DeadlineExceeded && errors.Is(ctx.Err(), context.DeadlineExceeded):
			return fmt.Errorf("no answer within --timeout %s", timeout)
		}
		return err
	}
}

// waitEnded says why a wait for what ended early: the caller's interrupt or
// the --timeout limit.
func waitEnded(ctx context.Context, what string) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("timed out waiting for %s; it carries on in the background (raise --timeout to wait longer)", what)
	}
	return fmt.Errorf("%w while waiting for %s; it carries on in the background", errInterrupted, what)
}

// change is one call that changes something: it waits for the gateway to be
// reachable (within --timeout) rather than failing at once, and it knows
// whether the call got as far as the gateway, which is what tells "nothing
// happened" from "the outcome is unknown".
type change struct {
	what  string // e.g. "creating volume db"
	check string // the command that shows the outcome
	peer  peer.Peer
}

func newChange(what, check string) *change { return &change{what: what, check: check} }

// reachable waits for the first attempt to connect to the gateway: a gateway
// that is not there is said at once, rather than after --timeout.
func (c *client) reachable(ctx context.Context) error {
	c.conn.Connect()
	for {
		st := c.conn.GetState()
		switch st {
		case connectivity.Ready:
			return nil
		case connectivity.TransientFailure, connectivity.Shutdown:
			return unreachableError{addr: c.addr, err: fmt.Errorf("connection %s", st)}
		}
		if !c.conn.WaitForStateChange(ctx, st) {
			return ctx.Err()
		}
	}
}

func (ch *change) opts() []grpc.CallOption {
	return []grpc.CallOption{grpc.WaitForReady(true), grpc.Peer(&ch.peer)}
}

// failed turns the error of a change that may have been applied into one
// that says so. A refusal from the gateway, or a call that never reached
// it, is returned as it is.
func (ch *change) failed(err error) error {
	switch status.Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded, codes.Canceled:
		if ch.peer.Addr != nil {
			return outcomeUnknownError{change: ch, err: err}
		}
	}
	return err
}

// outcomeUnknownError: a change was sent, and no answer came back.
type outcomeUnknownError struct {
	change *change
	err    error
}

func (e outcomeUnknownError) Error() string {
	return fmt.Sprintf("the outcome of %s is unknown (%s): it may still be applied; check with `%s` (running the same command again is safe)",
		e.change.what, describe(e.err), e.change.check)
}
func (e outcomeUnknownError) Unwrap() error { return e.err }
