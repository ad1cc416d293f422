package server

import (
	"context"
	"net/http"
	"time"

	"github.com/sessiond/sessiond/sessionhttp"
)

// readyTimeout bounds the store ping of /readyz: a load balancer asks often
// and must get a quick "no" from a node whose store hangs.
const readyTimeout = time.Second

// GET /healthz: the process is up and serving. It deliberately ignores the
// store, so that an orchestrator does not restart every node when the
// shared store is down (that is what /readyz is for).
func (s *server) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// GET /readyz: the store answers a ping within readyTimeout. The ping runs
// aside, so that a store client that ignores its context cannot hold the
// probe past the bound.
func (s *server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- s.m.Ping(ctx) }()
	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		err = ctx.Err()
	}
	if err != nil {
		s.log.ErrorContext(r.Context(), "server: store ping failed", "err", err)
		writeError(w, http.StatusServiceUnavailable, sessionhttp.CodeStoreUnavailable, "the session store is unavailable")
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}
