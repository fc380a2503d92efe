package grpcapi

import "fmt"

// WatchLimit bounds how many streams of one kind a gateway serves at once.
// Each watch holds a goroutine and a client's stream for as long as the
// client likes, and each WatchEvents also holds JetStream consumers: without
// a bound, clients that never hang up exhaust the gateway and the log. A
// watch beyond the bound is refused at once, RESOURCE_EXHAUSTED, rather than
// queued behind watches that may never end.
type WatchLimit struct {
	method  string // e.g. "WatchVolume"
	setting string // where an operator raises it, e.g. "--max-volume-watches"
	slots   chan struct{}
}

// NewWatchLimit allows max streams of method at once; setting names how an
// operator raises it, for the refusal's message.
func NewWatchLimit(method, setting string, max int) *WatchLimit {
	return &WatchLimit{method: method, setting: setting, slots: make(chan struct{}, max)}
}

// acquire takes a place for one watch and returns the function that gives
// it back, or a *watchLimitError when every place is taken. A nil limit
// allows any number.
func (l *WatchLimit) acquire() (release func(), err error) {
	if l == nil {
		return func() {}, nil
	}
	select {
	case l.slots <- struct{}{}:
		return func() { <-l.slots }, nil
	default:
		return nil, &watchLimitError{l}
	}
}

// watchLimitError is a watch refused because its kind is at its bound.
type watchLimitError struct{ l *WatchLimit }

func (e *watchLimitError) Error() string {
	return fmt.Sprintf("this gateway already serves %d %s streams, its limit (%s); try again once one has ended",
		cap(e.l.slots), e.l.method, e.l.setting)
}
