package browsertest

import (
	"bytes"
	"sync"
)

// LogBuffer collects a server's log, written from its goroutines, for the
// test to read: whether an outage was logged, and that no token or key
// ever was.
type LogBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *LogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *LogBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
