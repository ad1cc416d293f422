package memory_test

import (
	"testing"

	"github.com/sessiond/sessiond/memory"
	"github.com/sessiond/sessiond/storetest"
)

func TestConformance(t *testing.T) { storetest.Run(t, memory.New()) }
