package ratelimit

import (
	"fmt"
	"testing"
	"time"
)

func TestBucket(t *testing.T) {
	now := time.Unix(0, 0)
	l := New(1, 3, 10)
	l.now = func() time.Time { return now }
	for i := range 3 {
		if blocked, _ := l.Blocked("a"); blocked {
			t.Fatalf("blocked after %d failures, burst is 3", i)
		}
		l.Spend("a")
	}
	blocked, wait := l.Blocked("a")
	if !blocked || wait != time.Second {
		t.Fatalf("Blocked = %v, %v; want true, 1s", blocked, wait)
	}
	if blocked, _ := l.Blocked("b"); blocked {
		t.Fatal("keys are independent")
	}
	now = now.Add(time.Second)
	if blocked, _ := l.Blocked("a"); blocked {
		t.Fatal("one attempt refills per second")
	}
}

func TestBoundedMemory(t *testing.T) {
	now := time.Unix(0, 0)
	l := New(0.001, 2, 100)
	l.now = func() time.Time { return now }
	for i := range 1000 {
		now = now.Add(time.Millisecond)
		l.Spend(fmt.Sprint("k", i))
		if len(l.buckets) > 100 {
			t.Fatalf("%d buckets, bound is 100", len(l.buckets))
		}
	}
	if _, ok := l.buckets["k999"]; !ok {
		t.Fatal("the newest key was evicted")
	}
}
