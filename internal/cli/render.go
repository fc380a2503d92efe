package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/dustin/go-humanize"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	ballastv1 "ballast.dev/proto/ballast/v1"
)

// jsonOptions are how every proto is printed: field names as in the .proto,
// the same names the API documents.
var jsonOptions = protojson.MarshalOptions{UseProtoNames: true}

// protoJSON returns m as compact JSON. protojson deliberately varies its
// whitespace from build to build; compacting makes the output stable.
func protoJSON(m proto.Message) (json.RawMessage, error) {
	b, err := jsonOptions.Marshal(m)
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	if err := json.Compact(&out, b); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// writeJSON writes v indented over several lines.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// renderVolume prints one volume: its fields, then a table of its replicas.
func renderVolume(w io.Writer, f outputFormat, v *ballastv1.Volume) error {
	if f == formatJSON {
		raw, err := protoJSON(v)
		if err != nil {
			return err
		}
		return writeJSON(w, raw)
	}

	tw := newTable(w)
	row := func(k, v string) { fmt.Fprintf(tw, "%s:\t%s\n", k, v) }
	row("Name", v.GetName())
	row("ID", v.GetId())
	row("State", volumeState(v.GetState()))
	if v.GetState() == ballastv1.VolumeState_VOLUME_STATE_FAILED {
		row("Failure", codeName(v.GetFailureCode())+": "+v.GetFailureReason())
	}
	// The exact bytes beside a rounded size: it is what the volume has.
	row("Size", exactSize(v.GetSizeBytes()))
	if v.GetResizingToBytes() != 0 {
		row("Resizing to", exactSize(v.GetResizingToBytes()))
	}
	if r := v.GetResizeFailureReason(); r != "" {
		row("Resize failed", r)
	}
	spec := v.GetSpec()
	if l := spec.GetCapacity().GetLimitBytes(); l != 0 {
		row("Limit", exactSize(l))
	}
	row("Replicas", replicaSummary(v))
	if g := v.GetGeneration(); g != 0 {
		row("Generation", fmt.Sprint(g))
	}
	row("Tier", tier(spec.GetTier()))
	row("Spread", spread(spec.GetSpread()))
	if len(spec.GetLabels()) > 0 {
		row("Labels", labels(spec.GetLabels()))
	}
	row("Created", timestamp(v.GetCreateTime()))
	row("Updated", timestamp(v.GetUpdateTime()))
	row("Version", fmt.Sprint(v.GetVersion()))
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(v.GetReplicas()) == 0 {
		return nil
	}

	fmt.Fprintln(w)
	reasons := slices.ContainsFunc(v.GetReplicas(), func(r *ballastv1.Replica) bool { return r.GetFailureReason() != "" })
	// While a resize is on its way, each replica's size shows which have
	// grown.
	sizes := v.GetResizingToBytes() != 0 && slices.ContainsFunc(v.GetReplicas(), func(r *ballastv1.Replica) bool { return r.GetSizeBytes() != 0 })
	tw = newTable(w)
	fmt.Fprint(tw, "NODE\tDISK\tZONE\tSTATE\tROLE\tREPLICA")
	if sizes {
		fmt.Fprint(tw, "\tSIZE")
	}
	if reasons {
		fmt.Fprint(tw, "\tREASON")
	}
	fmt.Fprintln(tw)
	for _, r := range v.GetReplicas() {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s", r.GetNodeId(), r.GetDiskId(), r.GetZone(), replicaState(r.GetState()), role(r.GetRole()), r.GetId())
		if sizes {
			fmt.Fprintf(tw, "\t%s", size(r.GetSizeBytes()))
		}
		if reasons {
			fmt.Fprintf(tw, "\t%s", r.GetFailureReason())
		}
		fmt.Fprintln(tw)
	}
	return tw.Flush()
}

// renderVolumes prints a list of volumes; nextPageToken is shown when the
// list is one page of more.
func renderVolumes(w io.Writer, f outputFormat, vols []*ballastv1.Volume, nextPageToken string) error {
	if f == formatJSON {
		out := struct {
			Volumes       []json.RawMessage `json:"volumes"`
			NextPageToken string            `json:"next_page_token,omitempty"`
		}{Volumes: []json.RawMessage{}, NextPageToken: nextPageToken}
		for _, v := range vols {
			raw, err := protoJSON(v)
			if err != nil {
				return err
			}
			out.Volumes = append(out.Volumes, raw)
		}
		return writeJSON(w, out)
	}

	if len(vols) == 0 {
		fmt.Fprintln(w, "No volumes.")
	} else {
		tw := newTable(w)
		fmt.Fprintln(tw, "NAME\tSTATE\tSIZE\tTIER\tREPLICAS\tSPREAD\tID")
		for _, v := range vols {
			spec := v.GetSpec()
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d/%d\t%s\t%s\n",
				v.GetName(), volumeState(v.GetState()), size(v.GetSizeBytes()), tier(spec.GetTier()),
				readyReplicas(v), spec.GetReplicas(), spread(spec.GetSpread()), v.GetId())
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if nextPageToken != "" {
		fmt.Fprintf(w, "\nMore: --page-token %s\n", nextPageToken)
	}
	return nil
}

// renderNodes prints a list of storage nodes.
func renderNodes(w io.Writer, f outputFormat, nodes []*ballastv1.Node) error {
	if f == formatJSON {
		out := struct {
			Nodes []json.RawMessage `json:"nodes"`
		}{Nodes: []json.RawMessage{}}
		for _, n := range nodes {
			raw, err := protoJSON(n)
			if err != nil {
				return err
			}
			out.Nodes = append(out.Nodes, raw)
		}
		return writeJSON(w, out)
	}

	if len(nodes) == 0 {
		_, err := fmt.Fprintln(w, "No nodes.")
		return err
	}
	tw := newTable(w)
	fmt.Fprintln(tw, "ID\tZONE\tSTATE\tDISKS\tRESERVED\tREPLICAS\tLOAD")
	for _, n := range nodes {
		var reserved, capacity uint64
		for _, d := range n.GetDisks() {
			reserved += d.GetReservedBytes()
			capacity += d.GetCapacityBytes()
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\n",
			n.GetId(), n.GetZone(), nodeState(n.GetState()), disks(n.GetDisks()),
			usage(reserved, capacity), n.GetReplicaCount(), load(n.GetLoad()))
	}
	return tw.Flush()
}

// renderEvent prints one event on one line: in JSON, the event with its
// payload expanded (NDJSON); as a table, time, sequence, subject, the short
// type name and the payload as compact JSON.
func renderEvent(w io.Writer, f outputFormat, e *ballastv1.Event) error {
	if f == formatJSON {
		raw, err := protoJSON(e)
		if err != nil {
			// A payload of a type this binary does not know yet: print the
			// envelope, whose type field still names it.
			bare := proto.CloneOf(e)
			bare.Payload = nil
			if raw, err = protoJSON(bare); err != nil {
				return err
			}
		}
		_, err = fmt.Fprintf(w, "%s\n", raw)
		return err
	}

	payload := "{}"
	if a := e.GetPayload(); a != nil {
		m, err := a.UnmarshalNew()
		if err == nil {
			var raw json.RawMessage
			if raw, err = protoJSON(m); err == nil {
				payload = string(raw)
			}
		}
		if err != nil {
			payload = fmt.Sprintf("(%d bytes of %s)", len(a.GetValue()), a.GetTypeUrl())
		}
	}
	_, err := fmt.Fprintf(w, "%s  %6d  %-36s %-24s %s\n",
		timestamp(e.GetAppendTime()), e.GetSequence(), e.GetSubject(),
		strings.TrimPrefix(e.GetType(), "ballast.v1."), payload)
	return err
}

func newTable(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 0, 3, ' ', 0)
}

// size humanises bytes in binary units: 10 GiB.
func size(b uint64) string { return humanize.IBytes(b) }

// exactSize is size with the exact count of bytes beside it when size rounds
// it: 10 GiB, but 18.6 GiB (20000000000 bytes). Messages about what a user
// asked for use it, so that the rounding hides nothing.
func exactSize(b uint64) string {
	s := size(b)
	if n, err := humanize.ParseBytes(s); err == nil && n == b {
		return s
	}
	return fmt.Sprintf("%s (%d bytes)", s, b)
}

func usage(used, capacity uint64) string {
	if capacity == 0 {
		return size(used) + " / -"
	}
	pct := 100 * float64(used) / float64(capacity)
	if used > 0 && pct < 1 {
		return fmt.Sprintf("%s / %s (<1%%)", size(used), size(capacity))
	}
	return fmt.Sprintf("%s / %s (%.0f%%)", size(used), size(capacity), pct)
}

// disks summarises a node's disks per tier: "nvme 1.7 TiB, ssd 2×3.5 TiB".
func disks(ds []*ballastv1.Disk) string {
	byTier := map[ballastv1.Tier][]uint64{}
	for _, d := range ds {
		byTier[d.GetTier()] = append(byTier[d.GetTier()], d.GetCapacityBytes())
	}
	if len(byTier) == 0 {
		return "-"
	}
	var parts []string
	for _, t := range slices.Sorted(maps.Keys(byTier)) {
		caps := byTier[t]
		switch {
		case len(caps) == 1:
			parts = append(parts, fmt.Sprintf("%s %s", tier(t), size(caps[0])))
		case slices.Min(caps) == slices.Max(caps):
			parts = append(parts, fmt.Sprintf("%s %d×%s", tier(t), len(caps), size(caps[0])))
		default:
			var sum uint64
			for _, c := range caps {
				sum += c
			}
			parts = append(parts, fmt.Sprintf("%s %d disks %s", tier(t), len(caps), size(sum)))
		}
	}
	return strings.Join(parts, ", ")
}

// load summarises a node's last load window: "1200 IOPS, 45% busy".
func load(l *ballastv1.NodeLoad) string {
	if l == nil {
		return "-"
	}
	return fmt.Sprintf("%.0f IOPS, %.0f%% busy", l.GetReadIops()+l.GetWriteIops(), 100*l.GetUtilization())
}

// readyReplicas counts the replicas that serve the volume's data: ready,
// and healthy (not being rebuilt, leaving or lost).
func readyReplicas(v *ballastv1.Volume) int {
	n := 0
	for _, r := range v.GetReplicas() {
		if r.GetState() == ballastv1.ReplicaState_REPLICA_STATE_READY && serving(r.GetRole()) {
			n++
		}
	}
	return n
}

// role names a replica's role; one of a history written before roles is
// healthy.
func role(r ballastv1.ReplicaRole) string {
	if r == ballastv1.ReplicaRole_REPLICA_ROLE_UNSPECIFIED {
		r = ballastv1.ReplicaRole_REPLICA_ROLE_HEALTHY
	}
	return enumName(r, "REPLICA_ROLE_")
}

func serving(r ballastv1.ReplicaRole) bool {
	return r == ballastv1.ReplicaRole_REPLICA_ROLE_HEALTHY || r == ballastv1.ReplicaRole_REPLICA_ROLE_UNSPECIFIED
}

// replicaSummary is "3/3 ready", and what else the set holds during a
// change: "3/3 ready, 1 rebuilding".
func replicaSummary(v *ballastv1.Volume) string {
	out := fmt.Sprintf("%d/%d ready", readyReplicas(v), v.GetSpec().GetReplicas())
	counts := map[ballastv1.ReplicaRole]int{}
	for _, r := range v.GetReplicas() {
		counts[r.GetRole()]++
	}
	for _, r := range []ballastv1.ReplicaRole{ballastv1.ReplicaRole_REPLICA_ROLE_REBUILDING, ballastv1.ReplicaRole_REPLICA_ROLE_LEAVING, ballastv1.ReplicaRole_REPLICA_ROLE_LOST} {
		if counts[r] > 0 {
			out += fmt.Sprintf(", %d %s", counts[r], role(r))
		}
	}
	return out
}

func labels(m map[string]string) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, k+"="+m[k])
	}
	return strings.Join(parts, ", ")
}

func timestamp(t *timestamppb.Timestamp) string {
	if t == nil {
		return "-"
	}
	return t.AsTime().UTC().Format("2006-01-02T15:04:05.000Z")
}

// enumName lowercases an enum value's name without its prefix:
// VOLUME_STATE_READY is "ready".
func enumName(s fmt.Stringer, prefix string) string {
	return strings.ToLower(strings.TrimPrefix(s.String(), prefix))
}

func volumeState(s ballastv1.VolumeState) string   { return enumName(s, "VOLUME_STATE_") }
func replicaState(s ballastv1.ReplicaState) string { return enumName(s, "REPLICA_STATE_") }
func nodeState(s ballastv1.NodeState) string       { return enumName(s, "NODE_STATE_") }
func tier(t ballastv1.Tier) string                 { return enumName(t, "TIER_") }
func spread(s ballastv1.Spread) string             { return enumName(s, "SPREAD_") }

// renderExplanation prints why each replica of a volume is where it is
// (when the server says), then how the volume was placed: the decision,
// what it was computed from, and the ranked table of every node.
func renderExplanation(w io.Writer, f outputFormat, x *ballastv1.ExplainPlacementResponse) error {
	if f == formatJSON {
		raw, err := protoJSON(x)
		if err != nil {
			return err
		}
		return writeJSON(w, raw)
	}

	// A server that predates origins sends no time: the decision alone,
	// headed by the volume.
	withOrigins := x.GetAt() != nil
	if withOrigins {
		if err := renderOrigins(w, x); err != nil {
			return err
		}
		fmt.Fprintln(w)
	}
	s := x.GetSummary()
	tw := newTable(w)
	row := func(k, v string) { fmt.Fprintf(tw, "%s:\t%s\n", k, v) }
	if !withOrigins {
		row("Volume", fmt.Sprintf("%s (%s)", x.GetVolumeName(), x.GetVolumeId()))
	}
	outcome := "placed"
	if x.GetFailureReason() != "" {
		outcome = "failed"
	}
	row("Decision", fmt.Sprintf("%s at %s, placement sequence %d", outcome, timestamp(x.GetDecideTime()), x.GetDecisionSequence()))
	if r := x.GetFailureReason(); r != "" {
		row("Reason", r)
	}
	if s != nil {
		row("Request", placementRequest(s.GetRequest()))
		mp := s.GetModelPosition()
		row("Model", fmt.Sprintf("node sequence %d, placement sequence %d, overcommit %g",
			mp.GetNodeSequence(), mp.GetPlacementSequence(), s.GetOvercommit()))
		var weights []string
		for i, name := range s.GetScoreNames() {
			if i < len(s.GetScoreWeights()) {
				weights = append(weights, fmt.Sprintf("%s %g", name, s.GetScoreWeights()[i]))
			}
		}
		if len(weights) > 0 {
			row("Weights", strings.Join(weights, ", "))
		}
		row("Nodes", nodeCounts(s))
	}
	switch x.GetTableSource() {
	case ballastv1.TableSource_TABLE_SOURCE_RECOMPUTED:
		row("Table", "recomputed from the event log as the cluster stood then")
	case ballastv1.TableSource_TABLE_SOURCE_RECORDED:
		row("Table", "as the decision's event recorded it")
	}
	if m := x.GetMismatch(); m != "" {
		row("Warning", "the planner no longer reaches the recorded decision ("+m+"); the table is what it computes now")
	}
	if err := tw.Flush(); err != nil {
		return err
	}

	if len(x.GetPlacements()) > 0 {
		fmt.Fprintln(w)
		tw = newTable(w)
		fmt.Fprintln(tw, "REPLICA\tNODE\tDISK\tZONE")
		for _, p := range x.GetPlacements() {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", p.GetReplicaId(), p.GetNodeId(), p.GetDiskId(), p.GetZone())
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}

	fmt.Fprintln(w)
	rank := 0
	return writeCandidates(w, "", x.GetScoreNames(), x.GetCandidates(), func(int, *ballastv1.CandidateScore) string {
		rank++
		return fmt.Sprint(rank)
	})
}

// writeCandidates prints ranked rows of a table, each line after indent;
// rank numbers the feasible ones.
func writeCandidates(w io.Writer, indent string, names []string, rows []*ballastv1.CandidateScore, rank func(i int, c *ballastv1.CandidateScore) string) error {
	// Rows that were not chosen and have no reason end in empty cells:
	// trim the padding tabwriter gives them.
	var table bytes.Buffer
	tw := newTable(&table)
	fmt.Fprint(tw, "RANK\tNODE\tZONE\tDISK\tTOTAL")
	for _, n := range names {
		fmt.Fprint(tw, "\t"+strings.ToUpper(n))
	}
	fmt.Fprintln(tw, "\tCHOSEN\tREASON")
	for i, c := range rows {
		rankText, total, disk := "-", "-", dash(c.GetDiskId())
		if c.GetFeasible() {
			rankText, total = rank(i, c), fmt.Sprintf("%.3f", c.GetTotal())
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s", rankText, c.GetNodeId(), dash(c.GetZone()), disk, total)
		for j := range names {
			v := "-"
			if j < len(c.GetScores()) {
				v = fmt.Sprintf("%.3f", c.GetScores()[j])
			}
			fmt.Fprint(tw, "\t"+v)
		}
		chosen := ""
		if c.GetChosen() {
			chosen = "yes"
		}
		fmt.Fprintf(tw, "\t%s\t%s\n", chosen, c.GetReason())
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	return writeLines(w, indent, table.String())
}

// writeLines writes text a line at a time after indent, without the
// padding tabwriter leaves at the ends of lines.
func writeLines(w io.Writer, indent, text string) error {
	for line := range strings.Lines(text) {
		if _, err := fmt.Fprintln(w, strings.TrimRight(indent+line, " \n")); err != nil {
			return err
		}
	}
	return nil
}

// renderOrigins prints the replicas the volume had at the time asked and
// the event that put each where it is, then each move's detail.
func renderOrigins(w io.Writer, x *ballastv1.ExplainPlacementResponse) error {
	tw := newTable(w)
	row := func(k, v string) { fmt.Fprintf(tw, "%s:\t%s\n", k, v) }
	row("Volume", fmt.Sprintf("%s (%s)", x.GetVolumeName(), x.GetVolumeId()))
	row("As of", timestamp(x.GetAt()))
	if d := x.GetDeleteTime(); d != nil {
		row("Deleted", timestamp(d))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	if len(x.GetOrigins()) == 0 {
		_, err := fmt.Fprintln(w, "No replicas at that time.")
		return err
	}
	var table bytes.Buffer
	tw = newTable(&table)
	fmt.Fprintln(tw, "REPLICA\tNODE\tDISK\tZONE\tROLE\tPUT THERE BY")
	for _, o := range x.GetOrigins() {
		role := "-"
		if o.GetRole() != ballastv1.ReplicaRole_REPLICA_ROLE_UNSPECIFIED {
			role = enumName(o.GetRole(), "REPLICA_ROLE_")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", o.GetReplicaId(), o.GetNodeId(), dash(o.GetDiskId()), dash(o.GetZone()), role, originText(o))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if err := writeLines(w, "", table.String()); err != nil {
		return err
	}
	for _, o := range x.GetOrigins() {
		if o.GetKind() == ballastv1.OriginKind_ORIGIN_KIND_MOVE {
			fmt.Fprintln(w)
			if err := renderMoveOrigin(w, x, o); err != nil {
				return err
			}
		}
	}
	return nil
}

// originText says in a line what put a replica where it is.
func originText(o *ballastv1.ReplicaOrigin) string {
	at := fmt.Sprintf("placement sequence %d at %s", o.GetSequence(), timestamp(o.GetTime()))
	switch o.GetKind() {
	case ballastv1.OriginKind_ORIGIN_KIND_DECISION:
		return "decision, " + at
	case ballastv1.OriginKind_ORIGIN_KIND_MOVE:
		return fmt.Sprintf("move %s (%s), %s", o.GetMove().GetMigrationId(), moveReason(o.GetMove().GetReason()), at)
	}
	return "no placement event names it"
}

func moveReason(r ballastv1.MoveReason) string {
	return strings.ReplaceAll(enumName(r, "MOVE_REASON_"), "_", "-")
}

// renderMoveOrigin prints one move: why, what it replaced, how its target
// was chosen and how it fared against the best alternatives.
func renderMoveOrigin(w io.Writer, x *ballastv1.ExplainPlacementResponse, o *ballastv1.ReplicaOrigin) error {
	m, s := o.GetMove(), o.GetMove().GetSummary()
	fmt.Fprintf(w, "Move %s put %s on %s/%s at %s, placement sequence %d:\n", m.GetMigrationId(), o.GetReplicaId(),
		o.GetNodeId(), dash(o.GetDiskId()), timestamp(o.GetTime()), o.GetSequence())
	var block bytes.Buffer
	tw := newTable(&block)
	row := func(k, v string) { fmt.Fprintf(tw, "%s:\t%s\n", k, v) }
	reason := moveReason(m.GetReason())
	if t := m.GetReasonText(); t != "" {
		reason += " (" + t + ")"
	}
	row("Reason", reason)
	src := m.GetSource()
	row("Replaced", fmt.Sprintf("%s on %s/%s", src.GetReplicaId(), src.GetNodeId(), dash(src.GetDiskId())))
	target := "chosen by placement"
	if n := m.GetToNode(); n != "" {
		target = "asked for: " + n
	}
	if r := m.GetTargetRank(); r > 0 && s != nil {
		target += fmt.Sprintf("; ranked %d of %d feasible", r, s.GetNodesFeasible())
	}
	row("Target", target)
	if g := m.GetGain(); g != 0 {
		row("Gain", fmt.Sprintf("%.3f (the planner's objective cut by the move)", g))
	}
	if s == nil {
		row("Table", "not recorded: the move was admitted before moves recorded how their target was chosen; shown as its event recorded it")
		if err := tw.Flush(); err != nil {
			return err
		}
		return writeLines(w, "  ", block.String())
	}
	row("Request", placementRequest(s.GetRequest()))
	mp := s.GetModelPosition()
	row("Model", fmt.Sprintf("node sequence %d, placement sequence %d, overcommit %g", mp.GetNodeSequence(), mp.GetPlacementSequence(), s.GetOvercommit()))
	row("Nodes", nodeCounts(s))
	if m.GetTableSource() == ballastv1.TableSource_TABLE_SOURCE_RECOMPUTED {
		row("Table", fmt.Sprintf("recomputed from the event log as the cluster stood then; the best of its %d rows, and the target", m.GetTotalSize()))
	}
	if mm := m.GetMismatch(); mm != "" {
		row("Warning", "the planner no longer reaches the recorded move ("+mm+"); the rows are what it computes now")
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if err := writeLines(w, "  ", block.String()); err != nil {
		return err
	}
	rows := m.GetCandidates()
	if len(rows) == 0 {
		rows = s.GetBestCandidates()
	}
	if len(rows) == 0 {
		return nil
	}
	names := s.GetScoreNames()
	if len(names) == 0 {
		names = x.GetScoreNames()
	}
	fmt.Fprintln(w)
	return writeCandidates(w, "  ", names, rows, func(i int, c *ballastv1.CandidateScore) string {
		if c.GetChosen() && m.GetTargetRank() > 0 {
			return fmt.Sprint(m.GetTargetRank())
		}
		return fmt.Sprint(i + 1)
	})
}

// placementRequest is a decision's request in a line: "10 GiB, 3
// replicas, ssd, spread zone".
func placementRequest(r *ballastv1.PlacementRequest) string {
	replicas := fmt.Sprintf("%d replicas", r.GetReplicas())
	if r.GetReplicas() == 1 {
		replicas = "1 replica"
	}
	parts := []string{size(r.GetSizeBytes()), replicas, tier(r.GetTier()), "spread " + spread(r.GetSpread())}
	if len(r.GetNodeSelector()) > 0 {
		parts = append(parts, "nodes labelled "+labels(r.GetNodeSelector()))
	}
	if len(r.GetAllowedZones()) > 0 {
		parts = append(parts, "zones "+strings.Join(r.GetAllowedZones(), ", "))
	}
	return strings.Join(parts, ", ")
}

// nodeCounts says how many nodes were considered, feasible and rejected,
// and why: "12 considered, 9 feasible; rejected: 1 cordoned, 2 no room
// (largest free 4 GiB)".
func nodeCounts(s *ballastv1.DecisionSummary) string {
	out := fmt.Sprintf("%d considered, %d feasible", s.GetNodesConsidered(), s.GetNodesFeasible())
	var parts []string
	for _, r := range s.GetRejections() {
		p := fmt.Sprintf("%d %s", r.GetNodes(), rejection(r.GetReason()))
		if r.GetReason() == ballastv1.RejectionReason_REJECTION_REASON_NO_ROOM {
			p += fmt.Sprintf(" (largest free %s)", size(r.GetLargestFreeBytes()))
		}
		parts = append(parts, p)
	}
	if len(parts) > 0 {
		out += "; rejected: " + strings.Join(parts, ", ")
	}
	return out
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func rejection(r ballastv1.RejectionReason) string {
	return strings.ReplaceAll(enumName(r, "REJECTION_REASON_"), "_", " ")
}
