package memory_test

import (
	"testing"

	"github.com/sessiond/sessiond/stores/memory"
	"github.com/sessiond/sessiond/storetest"
)

func TestConformance(t *testing.T) { storetest.Run(t, memory.New()) }

func TestConformanceCached(t *testing.T) { storetest.RunCached(t, memory.New()) }
