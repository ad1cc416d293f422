package main

import (
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sessiond/sessiond/server"
)

// metricsFlags say where the Prometheus metrics are served. GET /metrics
// needs no API key (scrapers rarely carry one), so it belongs on an
// internal interface: on the API's listener while that is loopback (the
// default), else on a listener of its own (--metrics-addr), or nowhere.
type metricsFlags struct {
	enabled bool
	addr    string
}

func (f *metricsFlags) register(c *command) {
	c.BoolVar(&f.enabled, "metrics", true, "serve Prometheus metrics at GET /metrics, without an API key: never where the public can reach it")
	c.StringVar(&f.addr, "metrics-addr", "", "serve GET /metrics on this separate listener, host:port on an internal interface, instead of on --addr")
}

func (f *metricsFlags) check() error {
	if !f.enabled && f.addr != "" {
		return errors.New("--metrics-addr needs --metrics")
	}
	return nil
}

// start returns the registry for server.Config.Metrics and a func that
// stops what start started: nil (the API serves its own registry at GET
// /metrics); a registry served on --metrics-addr; or, with --metrics=false,
// a registry nobody serves.
func (f *metricsFlags) start(apiAddr string, log *slog.Logger) (*prometheus.Registry, func(), error) {
	switch {
	case !f.enabled:
		return prometheus.NewRegistry(), func() {}, nil
	case f.addr == "":
		if !loopback(apiAddr) {
			log.Warn("GET /metrics is served without an API key on a non-loopback address; serve it on an internal one with --metrics-addr, or turn it off with --metrics=false", "addr", apiAddr)
		}
		return nil, func() {}, nil
	}
	reg := server.NewRegistry()
	ln, err := net.Listen("tcp", f.addr)
	if err != nil {
		return nil, nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", server.MetricsHandler(reg))
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	go func() {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			log.Error("the metrics listener stopped", "err", err)
		}
	}()
	log.Info("metrics listening", "addr", ln.Addr().String())
	// Scrapes are short and carry nothing worth finishing: close at once.
	return reg, func() { srv.Close() }, nil
}

// loopback reports whether a listen address accepts local connections only.
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
