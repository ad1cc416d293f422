package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// client calls one node's JSON API over its own keep-alive connections,
// so that polling one node never waits behind another's.
type client struct {
	base   string
	apiKey string
	hc     *http.Client
}

func newClient(base, apiKey string) *client {
	return &client{base: base, apiKey: apiKey, hc: &http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: 4, DisableCompression: true},
	}}
}

// createSession creates a session for userID with small data, and returns
// its token and id.
func (c *client) createSession(ctx context.Context, userID string) (token, id string, err error) {
	body, _ := json.Marshal(map[string]any{"user_id": userID, "data": map[string]any{"cart": map[string]any{}}})
	var out struct {
		Token   string `json:"token"`
		Session struct {
			ID string `json:"id"`
		} `json:"session"`
	}
	if err := c.call(ctx, http.MethodPost, "/v1/sessions", body, http.StatusCreated, &out); err != nil {
		return "", "", err
	}
	return out.Token, out.Session.ID, nil
}

// revoke ends the session of token (POST /v1/sessions/revoke).
func (c *client) revoke(ctx context.Context, token string) error {
	body, _ := json.Marshal(map[string]string{"token": token})
	return c.call(ctx, http.MethodPost, "/v1/sessions/revoke", body, http.StatusNoContent, nil)
}

func (c *client) call(ctx context.Context, method, path string, body []byte, want int, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.apiKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, bytes.TrimSpace(b))
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

// auth is GET /v1/auth with the token as a bearer credential; it returns
// the status.
func (c *client) auth(ctx context.Context, token string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/v1/auth", nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, resp.Body) // keeps the connection reusable
	resp.Body.Close()
	return resp.StatusCode, nil
}

// poll is what pollUntilRefused saw.
type poll struct {
	refused      time.Duration // from start until the refusal arrived
	last         time.Duration // the round trip of the refusing call
	accepted     int           // calls answered 200 before it
	lastAccepted time.Duration // from start until the last 200 arrived
	lastSent     time.Duration // from start until that call was sent
}

// pollUntilRefused calls /v1/auth as fast as it can until the node refuses
// the token (401). The refusal happened within the refusing call's round
// trip before it arrived: that round trip is the resolution.
func (c *client) pollUntilRefused(ctx context.Context, token string, start time.Time, limit time.Duration) (poll, error) {
	var p poll
	for {
		sent := time.Now()
		status, err := c.auth(ctx, token)
		now := time.Now()
		switch {
		case err != nil:
			return p, err
		case status == http.StatusUnauthorized:
			p.refused, p.last = now.Sub(start), now.Sub(sent)
			return p, nil
		case status != http.StatusOK:
			return p, fmt.Errorf("GET /v1/auth: status %d", status)
		}
		p.accepted++
		p.lastAccepted, p.lastSent = now.Sub(start), sent.Sub(start)
		if now.Sub(start) > limit {
			return p, fmt.Errorf("still accepted %s after the revoke", now.Sub(start))
		}
	}
}
