package main

import (
	"crypto/rand"
	"crypto/subtle"
	"runtime"
	"slices"
	"sync"

	"golang.org/x/crypto/argon2"
)

// Argon2id parameters: the first of the OWASP Password Storage Cheat Sheet's
// equivalent configurations (19 MiB of memory, 2 iterations, 1 lane). They
// are kept with each hash so that they can be raised later without
// invalidating the stored ones.
const (
	argonTime    = 2
	argonMemory  = 19 * 1024 // KiB
	argonThreads = 1
	argonKeyLen  = 32
	saltLen      = 16
)

// passwordHash is an argon2id hash with its parameters and random salt.
type passwordHash struct {
	time, memory uint32
	threads      uint8
	salt, key    []byte
}

// hashSlots bounds concurrent hashing: each hash holds argonMemory, so a
// burst of sign-in attempts queues here instead of exhausting memory.
var hashSlots = make(chan struct{}, runtime.GOMAXPROCS(0))

func hashPassword(password string) passwordHash {
	h := passwordHash{time: argonTime, memory: argonMemory, threads: argonThreads, salt: make([]byte, saltLen)}
	rand.Read(h.salt)
	h.key = h.derive(password, argonKeyLen)
	return h
}

func (h passwordHash) derive(password string, keyLen uint32) []byte {
	hashSlots <- struct{}{}
	defer func() { <-hashSlots }()
	return argon2.IDKey([]byte(password), h.salt, h.time, h.memory, h.threads, keyLen)
}

// matches compares in constant time, so the comparison leaks nothing about
// how much of the hash an attacker got right.
func (h passwordHash) matches(password string) bool {
	return subtle.ConstantTimeCompare(h.derive(password, uint32(len(h.key))), h.key) == 1
}

// demoUser is one of the users that exist from the start, with the role
// their sessiond user record gets when it is first written.
type demoUser struct {
	ID   string
	Role string
}

var demoUsers = []demoUser{
	{"alice", roleCustomer},
	{"bob", roleCustomer},
	{"admin", roleAdmin},
}

const (
	roleCustomer = "customer"
	roleAdmin    = "admin"
)

// accounts holds the users' password hashes: the shop's own credential
// storage. Hashes never go into sessiond's user records, whose attributes
// are returned with every validation.
//
// For the demo the hashes live in memory and every start resets them to
// --demo-password; a real shop keeps them in its user database. Status and
// roles, on the other hand, live in sessiond's store and survive restarts.
type accounts struct {
	mu     sync.RWMutex
	hashes map[string]passwordHash
	// decoy is hashed against for unknown users, so that a failed sign-in
	// takes as long whether or not the user exists (no user enumeration by
	// timing).
	decoy passwordHash
}

func newAccounts(password string) *accounts {
	a := &accounts{hashes: map[string]passwordHash{}, decoy: hashPassword(password)}
	for _, u := range demoUsers {
		a.hashes[u.ID] = hashPassword(password)
	}
	return a
}

// Verify reports whether password is user's.
func (a *accounts) Verify(user, password string) bool {
	a.mu.RLock()
	h, ok := a.hashes[user]
	a.mu.RUnlock()
	if !ok {
		a.decoy.matches(password)
		return false
	}
	return h.matches(password)
}

// SetPassword replaces the password of an existing user.
func (a *accounts) SetPassword(user, password string) {
	h := hashPassword(password) // slow: outside the lock
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, ok := a.hashes[user]; ok {
		a.hashes[user] = h
	}
}

// Exists reports whether user has an account.
func (a *accounts) Exists(user string) bool {
	a.mu.RLock()
	defer a.mu.RUnlock()
	_, ok := a.hashes[user]
	return ok
}

// IDs lists every user, sorted.
func (a *accounts) IDs() []string {
	a.mu.RLock()
	defer a.mu.RUnlock()
	ids := make([]string, 0, len(a.hashes))
	for id := range a.hashes {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}
