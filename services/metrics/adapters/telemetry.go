package adapters

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
	"unicode/utf8"
	"unsafe"

	"google.golang.org/protobuf/encoding/protowire"

	"ballast.dev/platform/events"
	"ballast.dev/services/metrics/domain"
)

var errTruncated = errors.New("cannot parse invalid wire-format data")

// DecodeTelemetry reads a NodeTelemetry report on subject
// (ballast.telemetry.<node>) straight into the domain's Sample, without
// building the protobuf message first: a report of a node with a hundred
// replicas is a hundred messages and three hundred strings to protobuf, of
// which the summarizer needs the loads and one id each. Every node reports
// every interval, so this is the metrics service's hottest path.
//
// The sample's replica ids share data's memory: data must not be written
// while the sample is in use.
//
// It accepts and refuses what proto.Unmarshal followed by
// events.CheckSubject does (fields it does not use are skipped, unknown
// fields and fields of another wire type too; a string that is not UTF-8 is
// an error), and gives what SampleFromProto gives of the message.
func DecodeTelemetry(subject string, data []byte) (domain.Sample, error) {
	var (
		s           domain.Sample
		node        []byte
		seconds     int64
		nanos       int32
		sawTime     bool
		numDisks    int
		numReplicas int
	)
	// Count the disks and replicas first, so that their slices are
	// allocated once.
	for rest := data; len(rest) > 0; {
		num, typ, _, _, n := next(rest)
		if n < 0 {
			return domain.Sample{}, errTruncated
		}
		rest = rest[n:]
		if typ == protowire.BytesType {
			switch num {
			case 3:
				numDisks++
			case 4:
				numReplicas++
			}
		}
	}
	s.Disks = make([]domain.DiskSample, 0, numDisks)
	s.Replicas = make([]domain.ReplicaSample, 0, numReplicas)
	for rest := data; len(rest) > 0; {
		num, typ, v, _, n := next(rest) // whole: counted above
		rest = rest[n:]
		if typ != protowire.BytesType {
			continue // no field of a report is a scalar: another wire type is unknown
		}
		switch num {
		case 1:
			if !utf8.Valid(v) {
				return domain.Sample{}, errors.New("node_id is not UTF-8")
			}
			node = v
		case 2:
			sawTime = true
			err := fields(v, func(num protowire.Number, typ protowire.Type, _ []byte, x uint64) error {
				switch {
				case num == 1 && typ == protowire.VarintType:
					seconds = int64(x)
				case num == 2 && typ == protowire.VarintType:
					nanos = int32(x)
				}
				return nil
			})
			if err != nil {
				return domain.Sample{}, err
			}
		case 3:
			disk, err := decodeDisk(v)
			if err != nil {
				return domain.Sample{}, fmt.Errorf("disks: %w", err)
			}
			s.Disks = append(s.Disks, disk)
		case 4:
			r, err := decodeReplica(v)
			if err != nil {
				return domain.Sample{}, fmt.Errorf("replicas: %w", err)
			}
			s.Replicas = append(s.Replicas, r)
		}
	}
	if want, ok := strings.CutPrefix(subject, events.TelemetrySubject("")); ok && string(node) != want {
		return domain.Sample{}, fmt.Errorf("%w: ballast.v1.NodeTelemetry on %s has node_id %q", events.ErrSubjectMismatch, subject, node)
	}
	if sawTime {
		s.At = time.Unix(seconds, int64(nanos)).UTC()
	}
	return s, nil
}

func decodeDisk(data []byte) (domain.DiskSample, error) {
	var disk domain.DiskSample
	err := fields(data, func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error {
		switch {
		case num == 1 && typ == protowire.BytesType:
			if !utf8.Valid(v) {
				return errors.New("disk_id is not UTF-8")
			}
		case typ == protowire.Fixed64Type:
			f := math.Float64frombits(x)
			switch num {
			case 4:
				disk.ReadIOPS = f
			case 5:
				disk.WriteIOPS = f
			case 6:
				disk.ReadBytesPerSecond = f
			case 7:
				disk.WriteBytesPerSecond = f
			case 9:
				disk.Utilization = f
			}
		case num == 8 && typ == protowire.VarintType:
			disk.Latency = micros(x)
		}
		return nil
	})
	return disk, err
}

func decodeReplica(data []byte) (domain.ReplicaSample, error) {
	var (
		r   domain.ReplicaSample
		rid []byte
	)
	// A loop, not fields with a function: a report is mostly replicas.
	for len(data) > 0 {
		num, typ, v, x, n := next(data)
		if n < 0 {
			return r, errTruncated
		}
		data = data[n:]
		switch {
		case typ == protowire.BytesType && num <= 3:
			// replica_id, volume_id, disk_id: strings, so UTF-8; the
			// last id is checked as it is made a string.
			if num == 1 {
				if rid != nil && !utf8.Valid(rid) {
					return r, errors.New("replica_id is not UTF-8") // an earlier one, which the last replaces
				}
				rid = v
			} else if !utf8.Valid(v) {
				return r, fmt.Errorf("field %d is not UTF-8", num)
			}
		case typ == protowire.Fixed64Type:
			f := math.Float64frombits(x)
			switch num {
			case 4:
				r.ReadIOPS = f
			case 5:
				r.WriteIOPS = f
			case 6:
				r.ReadBytesPerSecond = f
			case 7:
				r.WriteBytesPerSecond = f
			}
		}
	}
	var err error
	r.ID, err = replicaID(rid)
	return r, err
}

// replicaID is the string of a replica id. It shares b's memory rather
// than copying it (a hundred allocations a report): a report's bytes are
// its message's own, never written again, and the window copies the ids it
// keeps (domain.Window.Add).
func replicaID(b []byte) (string, error) {
	if !utf8.Valid(b) {
		return "", errors.New("replica_id is not UTF-8")
	}
	return unsafe.String(unsafe.SliceData(b), len(b)), nil
}

// fields calls fn for each field of the message in data, in order: its
// number, wire type, and value (the bytes of a length-delimited field, the
// number of a varint or fixed one).
func fields(data []byte, fn func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error) error {
	for len(data) > 0 {
		num, typ, v, x, n := next(data)
		if n < 0 {
			return errTruncated
		}
		data = data[n:]
		if err := fn(num, typ, v, x); err != nil {
			return err
		}
	}
	return nil
}

// next reads the field data starts with: its number, wire type, value (as
// fields gives it) and length; n < 0 if data does not start with a whole,
// valid field.
func next(data []byte) (num protowire.Number, typ protowire.Type, v []byte, x uint64, n int) {
	if b := data[0]; b < 0x80 {
		// A one-byte tag (fields 1 to 15, every field of a report):
		// protowire.ConsumeTag is not inlined, and this is most of a
		// report's fields.
		num, typ, n = protowire.Number(b>>3), protowire.Type(b&7), 1
		if num < protowire.MinValidNumber {
			return 0, 0, nil, 0, -1
		}
	} else {
		num, typ, n = protowire.ConsumeTag(data)
		if n < 0 || num > protowire.MaxValidNumber { // ConsumeTag checks only the least
			return 0, 0, nil, 0, -1
		}
	}
	rest := data[n:]
	var m int
	switch typ {
	case protowire.VarintType:
		x, m = protowire.ConsumeVarint(rest)
	case protowire.Fixed64Type:
		x, m = protowire.ConsumeFixed64(rest)
	case protowire.Fixed32Type:
		var x32 uint32
		x32, m = protowire.ConsumeFixed32(rest)
		x = uint64(x32)
	case protowire.BytesType:
		if len(rest) > 0 && rest[0] < 0x80 && int(rest[0]) < len(rest) {
			m = 1 + int(rest[0]) // a length under 128, which fits
			v = rest[1:m:m]
		} else {
			v, m = protowire.ConsumeBytes(rest)
		}
	default:
		m = protowire.ConsumeFieldValue(num, typ, rest)
	}
	if m < 0 {
		return 0, 0, nil, 0, -1
	}
	return num, typ, v, x, n + m
}
