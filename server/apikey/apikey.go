// Package apikey is the record of a sessiond server's API key, as the
// stores keep it: only the SHA-256 of the key, never the key. It has no
// dependencies, so a store can keep the server's keys (every node sharing a
// store shares its keys) without importing the server.
package apikey

import "time"

// Key is a stored API key.
type Key struct {
	ID   string
	Name string
	// Hash is the hex SHA-256 of the key. Keys are looked up by it, so no
	// secret is ever compared byte by byte.
	Hash      string
	CreatedAt time.Time
}
