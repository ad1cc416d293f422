package main

import (
	"context"
	"encoding/hex"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// The peer of /v1/auth: what a service that uses JWTs as session tokens
// runs per request. It verifies an HS256 token with golang-jwt v5 and the
// validations a careful service enables (the same as benchJWT in ./bench),
// and answers like /v1/auth: 200 with the identity headers, or 401.

// jwtSecretEnv carries the HMAC key from throughput to its jwt-server.
const jwtSecretEnv = "SESSIONBENCH_JWT_SECRET"

const (
	jwtIssuer   = "https://auth.example"
	jwtAudience = "shop"
	// jwtID is the length of a ULID, a common jti.
	jwtID = "01J9Z3K5V8Q2W7X4Y6T1R0M3N5"
)

// sessionClaims is what a JWT used as a session token typically carries.
type sessionClaims struct {
	Roles []string `json:"roles"`
	jwt.RegisteredClaims
}

// sessionJWT signs a session-like HS256 JWT, valid for 30 minutes.
func sessionJWT(secret []byte, userID string, roles []string) (string, error) {
	now := time.Now()
	return jwt.NewWithClaims(jwt.SigningMethodHS256, sessionClaims{
		Roles: roles,
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    jwtIssuer,
			Subject:   userID,
			Audience:  jwt.ClaimStrings{jwtAudience},
			ExpiresAt: jwt.NewNumericDate(now.Add(30 * time.Minute)),
			IssuedAt:  jwt.NewNumericDate(now),
			ID:        jwtID,
		},
	}).SignedString(secret)
}

// jwtAuth is the peer's handler.
type jwtAuth struct {
	parser *jwt.Parser
	key    jwt.Keyfunc
}

func newJWTAuth(secret []byte) *jwtAuth {
	return &jwtAuth{
		parser: jwt.NewParser(
			jwt.WithAudience(jwtAudience),
			jwt.WithIssuer(jwtIssuer),
			jwt.WithExpirationRequired(),
			jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		),
		key: func(*jwt.Token) (any, error) { return secret, nil },
	}
}

func (a *jwtAuth) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		a.refuse(w)
		return
	}
	var c sessionClaims
	if _, err := a.parser.ParseWithClaims(token, &c, a.key); err != nil {
		a.refuse(w)
		return
	}
	h := w.Header()
	h.Set("X-Session-Id", c.ID)
	h.Set("X-User-Id", c.Subject)
	h.Set("X-User-Roles", strings.Join(c.Roles, ","))
	h.Set("X-Identity-Token", "")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
}

// floorAuth answers every request like a valid one without checking
// anything: what net/http alone costs, the floor of any forward auth.
func floorAuth(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("X-Session-Id", jwtID)
	h.Set("X-User-Id", "user-42")
	h.Set("X-User-Roles", "customer,beta")
	h.Set("X-Identity-Token", "")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
}

func (a *jwtAuth) refuse(w http.ResponseWriter) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="jwt", error="invalid_token"`)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusUnauthorized)
	fmt.Fprintln(w, `{"error":{"code":"session_invalid","message":"invalid session"}}`)
}

// jwtServer is `sessionbench jwt-server`: the peer as a process of its
// own, like the sessiond node it is compared with, with sessiond's HTTP
// server settings.
func jwtServer(args []string) error {
	fs := flag.NewFlagSet("sessionbench jwt-server", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:7071", "listen address")
	floor := fs.Bool("floor", false, "check nothing: answer every request 200 with fixed identity headers")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: sessionbench jwt-server [-addr HOST:PORT] [-floor]  (HMAC key in $%s, hex, 32+ bytes)\n", jwtSecretEnv)
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	var handler http.Handler = http.HandlerFunc(floorAuth)
	if !*floor {
		secret, err := hex.DecodeString(os.Getenv(jwtSecretEnv))
		if err != nil || len(secret) < 32 {
			return fmt.Errorf("$%s must hold 32+ bytes in hex", jwtSecretEnv)
		}
		handler = newJWTAuth(secret)
	}
	srv := &http.Server{
		Addr:              *addr,
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	served := make(chan error, 1)
	go func() { served <- srv.ListenAndServe() }()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}
