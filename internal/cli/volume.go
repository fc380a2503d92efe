package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	ballastv1 "ballast.dev/proto/ballast/v1"
)

func newVolumeCommand(g *globals) *cobra.Command {
	out := new(outputFormat)
	cmd := newGroup("volume", "Create, inspect, resize and delete volumes", out)
	cmd.Aliases = []string{"volumes", "vol"}
	cmd.AddCommand(
		newVolumeCreateCommand(g, out),
		newVolumeGetCommand(g, out),
		newVolumeListCommand(g, out),
		newVolumeResizeCommand(g, out),
		newVolumeDeleteCommand(g, out),
		newVolumeRepairCommand(g, out),
		newVolumeMoveCommand(g, out),
	)
	return cmd
}

func newVolumeCreateCommand(g *globals, out *outputFormat) *cobra.Command {
	var (
		sz, limit sizeValue
		replicas  uint32
		tierOf    ballastv1.Tier
		spreadOf  ballastv1.Spread
		lbls      = labelsValue{}
		noWait    bool
	)
	cmd := &cobra.Command{
		Use:   "create NAME --size SIZE",
		Short: "Create a volume and wait until it is ready",
		Long: `Create a volume and follow it until it is ready or has failed.

Sizes are bytes or a number with a unit: IEC units are 1024-based (10GiB,
10Gi), SI units 1000-based (500MB, 10G), as in Kubernetes.`,
		Example: `  ballast volume create db --size 10GiB --replicas 3
  ballast volume create scratch --size 500GB --replicas 1 --tier hdd --spread node --label team=ml`,
		Args: exactArgs(1, "a volume name"),
	}
	f := cmd.Flags()
	f.Var(&sz, "size", "size of the volume (required), e.g. 10GiB or 500MB")
	f.Var(&limit, "limit", "largest size the volume may be given (default: no limit)")
	// The server owns the upper bound on replicas; the client only refuses
	// what can never be meant, and what the API's uint32 cannot carry.
	f.Var(newIntValue(&replicas, 3, 1, math.MaxUint32), "replicas", "number of replicas")
	f.Var(tierFlag(&tierOf), "tier", "class of disk for the replicas")
	f.Var(spreadFlag(&spreadOf), "spread", "failure domain replicas are spread across")
	f.Var(lbls, "label", "label of the volume, key=value; repeat for more")
	f.BoolVar(&noWait, "no-wait", false, "return once the volume is asked for, without waiting until it is ready")

	cmd.RunE = g.run(false, func(ctx context.Context, cmd *cobra.Command, args []string, c *client) error {
		switch {
		case sz == 0:
			return usageErrorf("--size is required, e.g. --size 10GiB")
		case limit != 0 && limit < sz:
			return usageErrorf("--limit %s is less than --size %s", exactSize(uint64(limit)), exactSize(uint64(sz)))
		}
		name := args[0]
		ch := newChange("creating volume "+name, "ballast volume get "+name)
		if err := c.reachable(ctx); err != nil {
			return err
		}
		capacityFlag := "--size"
		if limit != 0 {
			capacityFlag = "--size/--limit"
		}
		flags := map[string]string{"name": "NAME", "spec.capacity": capacityFlag, "spec.replicas": "--replicas",
			"spec.tier": "--tier", "spec.spread": "--spread", "spec.labels": "--label"}
		resp, err := c.volumes.CreateVolume(ctx, &ballastv1.CreateVolumeRequest{
			Name: name,
			Spec: &ballastv1.VolumeSpec{
				Capacity: &ballastv1.CapacityRange{RequiredBytes: uint64(sz), LimitBytes: uint64(limit)},
				Replicas: replicas,
				Tier:     tierOf,
				Spread:   spreadOf,
				Labels:   lbls,
			},
		}, ch.opts()...)
		if err != nil {
			return ch.failed(inFlags(err, flags))
		}
		v := resp.GetVolume()
		if !noWait {
			v, err = watchVolume(ctx, c, v, cmd.ErrOrStderr(), createDone)
			if err != nil {
				return err
			}
		}
		if err := renderVolume(cmd.OutOrStdout(), *out, v); err != nil {
			return err
		}
		if v.GetState() == ballastv1.VolumeState_VOLUME_STATE_FAILED {
			return volumeFailedError{name: v.GetName(), code: v.GetFailureCode(), reason: v.GetFailureReason()}
		}
		return nil
	})
	return cmd
}

// createDone ends the wait for a new volume when it is ready or has failed.
func createDone(v *ballastv1.Volume) (bool, error) {
	switch v.GetState() {
	case ballastv1.VolumeState_VOLUME_STATE_READY, ballastv1.VolumeState_VOLUME_STATE_FAILED:
		return true, nil
	case ballastv1.VolumeState_VOLUME_STATE_DELETING, ballastv1.VolumeState_VOLUME_STATE_DELETED:
		return true, fmt.Errorf("volume %s was deleted before it was ready", v.GetName())
	}
	return false, nil
}

func newVolumeGetCommand(g *globals, out *outputFormat) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "get NAME",
		Short: "Show a volume, by name or id",
		Args:  exactArgs(1, "a volume name or id"),
	}
	cmd.RunE = g.run(false, func(ctx context.Context, cmd *cobra.Command, args []string, c *client) error {
		resp, err := c.volumes.GetVolume(ctx, &ballastv1.GetVolumeRequest{Name: args[0]})
		if err != nil {
			return err
		}
		return renderVolume(cmd.OutOrStdout(), *out, resp.GetVolume())
	})
	return cmd
}

func newVolumeListCommand(g *globals, out *outputFormat) *cobra.Command {
	var (
		pageSize  int32
		pageToken string
	)
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List live volumes in name order",
		Long: `List live volumes in name order, every page of them.

With --page-token (even an empty one, for the first page) only that one page
is fetched, and the token of the next is printed.`,
		Aliases: []string{"ls"},
		Args:    noArgs,
	}
	cmd.Flags().Var(newIntValue(&pageSize, 0, 0, math.MaxInt32), "page-size", "volumes per request (0: the server's default)")
	cmd.Flags().StringVar(&pageToken, "page-token", "", "fetch only the page at this token")
	cmd.RunE = g.run(false, func(ctx context.Context, cmd *cobra.Command, args []string, c *client) error {
		onePage := cmd.Flags().Changed("page-token")
		var vols []*ballastv1.Volume
		token := pageToken
		seen := map[string]bool{}
		for {
			resp, err := c.volumes.ListVolumes(ctx, &ballastv1.ListVolumesRequest{PageSize: pageSize, PageToken: token})
			if err != nil {
				return err
			}
			vols = append(vols, resp.GetVolumes()...)
			token = resp.GetNextPageToken()
			if onePage || token == "" {
				break
			}
			if seen[token] {
				return fmt.Errorf("list volumes: the server sent page token %q twice", token)
			}
			seen[token] = true
		}
		return renderVolumes(cmd.OutOrStdout(), *out, vols, token)
	})
	return cmd
}

func newVolumeResizeCommand(g *globals, out *outputFormat) *cobra.Command {
	var (
		sz     sizeValue
		noWait bool
	)
	cmd := &cobra.Command{
		Use:   "resize NAME --size SIZE",
		Short: "Grow a volume and wait until every replica has grown",
		Long: `Grow a volume to at least --size and wait until every replica has grown.

The size is rounded up to whole MiB, as the volume is provisioned. Volumes only
grow: a size less than the volume was last asked to be is refused.`,
		Example: `  ballast volume resize db --size 20GiB`,
		Args:    exactArgs(1, "a volume name or id"),
	}
	cmd.Flags().Var(&sz, "size", "new size of the volume (required); volumes only grow")
	cmd.Flags().BoolVar(&noWait, "no-wait", false, "return once the resize is asked for")
	cmd.RunE = g.run(false, func(ctx context.Context, cmd *cobra.Command, args []string, c *client) error {
		if sz == 0 {
			return usageErrorf("--size is required, e.g. --size 20GiB")
		}
		asked := uint64(sz)
		ch := newChange("resizing volume "+args[0], "ballast volume get "+args[0])
		if err := c.reachable(ctx); err != nil {
			return err
		}
		resp, err := c.volumes.ResizeVolume(ctx, &ballastv1.ResizeVolumeRequest{
			Name: args[0],
			// At least the size asked: the server rounds it up to its
			// allocation unit, as a CSI driver does. A limit of the same
			// size would refuse that rounding for every size that is not
			// a whole unit.
			Capacity: &ballastv1.CapacityRange{RequiredBytes: asked},
		}, ch.opts()...)
		if err != nil {
			return ch.failed(inFlags(err, map[string]string{"name": "NAME", "capacity": "--size"}))
		}
		v := resp.GetVolume()
		if err := checkGrows(v, asked); err != nil {
			return err
		}
		if !noWait {
			v, err = watchVolume(ctx, c, v, cmd.ErrOrStderr(), resizeDone(asked))
			if err != nil {
				return err
			}
		}
		return renderVolume(cmd.OutOrStdout(), *out, v)
	})
	return cmd
}

// checkGrows refuses a resize to less than the volume was last asked to be.
// The server takes "at least asked", which a larger volume already is, so it
// changes nothing; but the user asked for a smaller volume, and volumes only
// grow. Comparing with what was asked before, not with the size the server
// rounded it up to, lets the same size be asked again, as Kubernetes
// compares a claim's new request with its old one.
func checkGrows(v *ballastv1.Volume, asked uint64) error {
	before := v.GetSpec().GetCapacity().GetRequiredBytes()
	if before == 0 {
		before = v.GetSizeBytes() // created with the default size
	}
	if asked >= before {
		return nil
	}
	return status.Errorf(codes.InvalidArgument, "--size: volumes only grow: volume %s was asked to be %s; %s is less",
		v.GetName(), exactSize(before), exactSize(asked))
}

// resizeDone ends the wait for a resize to asked bytes: done when the volume
// has that size and no resize is in progress, which the server reports only
// once every replica has grown; failed when the resize is over with a reason
// and the size falls short.
func resizeDone(asked uint64) func(*ballastv1.Volume) (bool, error) {
	return func(v *ballastv1.Volume) (bool, error) {
		switch {
		case v.GetSizeBytes() >= asked && v.GetResizingToBytes() == 0:
			return true, nil
		case v.GetResizeFailureReason() != "" && v.GetResizingToBytes() == 0:
			return true, fmt.Errorf("resize of volume %s to %s failed: %s", v.GetName(), exactSize(asked), v.GetResizeFailureReason())
		case v.GetState() != ballastv1.VolumeState_VOLUME_STATE_READY && v.GetState() != ballastv1.VolumeState_VOLUME_STATE_CREATING:
			return true, fmt.Errorf("volume %s is %s; the resize to %s will not finish", v.GetName(), volumeState(v.GetState()), size(asked))
		}
		return false, nil
	}
}

func newVolumeDeleteCommand(g *globals, out *outputFormat) *cobra.Command {
	var noWait bool
	cmd := &cobra.Command{
		Use:     "delete NAME",
		Short:   "Delete a volume and wait until its replicas are gone",
		Aliases: []string{"rm"},
		Args:    exactArgs(1, "a volume name or id"),
	}
	cmd.Flags().BoolVar(&noWait, "no-wait", false, "return once the delete is accepted")
	cmd.RunE = g.run(false, func(ctx context.Context, cmd *cobra.Command, args []string, c *client) error {
		ch := newChange("deleting volume "+args[0], "ballast volume get "+args[0])
		if err := c.reachable(ctx); err != nil {
			return err
		}
		resp, err := c.volumes.DeleteVolume(ctx, &ballastv1.DeleteVolumeRequest{Name: args[0]}, ch.opts()...)
		if err != nil {
			return ch.failed(err)
		}
		v := resp.GetVolume()
		if !noWait {
			last, err := watchVolume(ctx, c, v, cmd.ErrOrStderr(), deleteDone)
			switch {
			case errors.Is(err, errWatchEnded), status.Code(err) == codes.NotFound:
				// WatchVolume ends when the volume is deleted, and a volume
				// already gone is not found: both mean done.
				v = deletedCopy(last)
			case err != nil:
				return err
			default:
				v = last
			}
		}
		if *out == formatJSON {
			return renderVolume(cmd.OutOrStdout(), *out, v)
		}
		verb := "deleted"
		if v.GetState() != ballastv1.VolumeState_VOLUME_STATE_DELETED {
			verb = "is being deleted"
		}
		_, err = fmt.Fprintf(cmd.OutOrStdout(), "Volume %s %s.\n", v.GetName(), verb)
		return err
	})
	return cmd
}

func newVolumeRepairCommand(g *globals, out *outputFormat) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "repair NAME",
		Short: "Repair a volume whose history holds events that cannot be read",
		Long: `Repair a volume whose history holds events this version cannot read: a
corrupt event, say, that makes every command on the volume fail with
FAILED_PRECONDITION naming its sequence. The repair records the volume as its
readable events make it, and the unreadable ones are left out from then on.
What they recorded is lost: check the volume afterwards. A volume with nothing
to repair is shown as it is.`,
		Example: `  ballast volume repair db`,
		Args:    exactArgs(1, "a volume name"),
	}
	cmd.RunE = g.run(false, func(ctx context.Context, cmd *cobra.Command, args []string, c *client) error {
		ch := newChange("repairing volume "+args[0], "ballast volume get "+args[0])
		if err := c.reachable(ctx); err != nil {
			return err
		}
		resp, err := c.volumes.RepairVolume(ctx, &ballastv1.RepairVolumeRequest{Name: args[0]}, ch.opts()...)
		if err != nil {
			return ch.failed(err)
		}
		if *out == formatTable {
			if skipped := resp.GetSkippedSequences(); len(skipped) > 0 {
				fmt.Fprintf(cmd.ErrOrStderr(), "Repaired volume %s: left out %d unreadable %s (%s).\n", args[0], len(skipped), plural(len(skipped), "event", "events"), sequences(skipped))
			} else {
				fmt.Fprintf(cmd.ErrOrStderr(), "Volume %s had nothing to repair.\n", args[0])
			}
		}
		return renderVolume(cmd.OutOrStdout(), *out, resp.GetVolume())
	})
	return cmd
}

// sequences lists stream sequences for a message: "sequence 42" or
// "sequences 42, 57".
func sequences(seqs []uint64) string {
	parts := make([]string, len(seqs))
	for i, s := range seqs {
		parts[i] = strconv.FormatUint(s, 10)
	}
	return plural(len(seqs), "sequence ", "sequences ") + strings.Join(parts, ", ")
}

func deleteDone(v *ballastv1.Volume) (bool, error) {
	return v.GetState() == ballastv1.VolumeState_VOLUME_STATE_DELETED, nil
}

// deletedCopy returns v marked deleted, for a watch that ended with the
// volume gone before it could send the last state.
func deletedCopy(v *ballastv1.Volume) *ballastv1.Volume {
	d := &ballastv1.Volume{}
	if v != nil {
		d = proto.CloneOf(v)
	}
	d.State = ballastv1.VolumeState_VOLUME_STATE_DELETED
	return d
}

// errWatchEnded is a WatchVolume stream that ended before the wait was over.
var errWatchEnded = errors.New("the volume watch ended")

// watchVolume follows v with WatchVolume until done says the wait is over,
// and returns the last state seen (v itself when it is already done). It
// skips states older than v, which a lagging read model may still send, and
// notes progress on progress.
func watchVolume(ctx context.Context, c *client, v *ballastv1.Volume, progress io.Writer, done func(*ballastv1.Volume) (bool, error)) (*ballastv1.Volume, error) {
	if ok, err := done(v); ok || err != nil {
		return v, err
	}
	key := v.GetId()
	if key == "" {
		key = v.GetName()
	}
	what := "volume " + v.GetName()
	stream, err := c.volumes.WatchVolume(ctx, &ballastv1.WatchVolumeRequest{Name: key})
	if err != nil {
		return v, err
	}
	minVersion, last, noted := v.GetVersion(), v, ""
	for {
		resp, err := stream.Recv()
		switch {
		case ctx.Err() != nil:
			return last, waitEnded(ctx, fmt.Sprintf("%s (%s)", what, volumeState(last.GetState())))
		case errors.Is(err, io.EOF):
			return last, fmt.Errorf("%w before %s was done (%s)", errWatchEnded, what, volumeState(last.GetState()))
		case err != nil:
			return last, err
		}
		cur := resp.GetVolume()
		if cur == nil || cur.GetVersion() < minVersion {
			continue
		}
		last = cur
		if ok, err := done(cur); ok || err != nil {
			return cur, err
		}
		if note := progressNote(cur); note != noted {
			fmt.Fprintf(progress, "waiting for %s: %s\n", what, note)
			noted = note
		}
	}
}

// progressNote says where a volume is, for the lines printed while waiting.
func progressNote(v *ballastv1.Volume) string {
	note := volumeState(v.GetState())
	switch {
	case v.GetState() == ballastv1.VolumeState_VOLUME_STATE_DELETING:
		left := 0
		for _, r := range v.GetReplicas() {
			if r.GetState() != ballastv1.ReplicaState_REPLICA_STATE_REMOVED {
				left++
			}
		}
		note += fmt.Sprintf(", %d replicas left", left)
	case len(v.GetReplicas()) > 0:
		note += fmt.Sprintf(", %d/%d replicas ready", readyReplicas(v), v.GetSpec().GetReplicas())
	}
	if r := v.GetResizingToBytes(); r != 0 {
		note += ", resizing to " + size(r)
		// A server that reports replicas' sizes shows how far the growth is.
		grown, known := 0, false
		for _, rep := range v.GetReplicas() {
			known = known || rep.GetSizeBytes() != 0
			if rep.GetSizeBytes() >= r {
				grown++
			}
		}
		if known {
			note += fmt.Sprintf(", %d/%d replicas grown", grown, len(v.GetReplicas()))
		}
	}
	return note
}

// plural picks the word for n things.
func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
