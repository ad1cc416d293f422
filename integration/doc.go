// Package integration holds tests that run the whole server — HTTP API,
// manager and a real store server — together, such as stopping the store
// under a running API and starting it again.
package integration
