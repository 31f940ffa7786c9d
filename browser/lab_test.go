package browser_test

import (
	"encoding/json"
	"maps"
	"testing"
	"time"
)

// labExpected is the storage lab's table as docs/storage-lab.md explains it.
var labExpected = map[string]map[string]string{
	"memory":       {"survives-reload": "no", "script-can-read": "yes", "script-can-use": "yes", "sent-automatically": "no"},
	"localstorage": {"survives-reload": "yes", "script-can-read": "yes", "script-can-use": "yes", "sent-automatically": "no"},
	"cookie":       {"survives-reload": "yes", "script-can-read": "no", "script-can-use": "yes", "sent-automatically": "yes"},
}

// labTable reads the lab's table.
func (b *tab) labTable() map[string]map[string]string {
	b.t.Helper()
	raw := eval[string](b, `JSON.stringify(Object.fromEntries([...document.querySelectorAll('[data-testid="lab-row"]')].map(r =>
		[r.dataset.way, Object.fromEntries([...r.querySelectorAll('td[data-testid]')].map(c => [c.dataset.testid, c.textContent.trim()]))])))`)
	var table map[string]map[string]string
	if err := json.Unmarshal([]byte(raw), &table); err != nil {
		b.t.Fatal(err)
	}
	return table
}

func TestStorageLab_SameOutcomeEveryRun(t *testing.T) {
	srv := startLatch(t)
	b := newTab(t, newBrowser(t), srv)
	b.open("/demo/storage")
	for run := range 2 {
		b.click("lab-run")
		b.waitUntil("lab-done", visible("lab-done"), 30*time.Second)
		got := b.labTable()
		for way, want := range labExpected {
			if !maps.Equal(got[way], want) {
				t.Errorf("run %d, %s: %v, want %v", run, way, got[way], want)
			}
		}
		if msg := b.text("error"); msg != "" {
			t.Errorf("run %d: error %q", run, msg)
		}
		// The lab cleans up after itself: no token left in storage, no session.
		if n := eval[int](b, `localStorage.length + sessionStorage.length`); n != 0 {
			t.Errorf("run %d: %d items left in web storage", run, n)
		}
		if c := b.cookie("latch_session"); c != nil {
			t.Errorf("run %d: the lab's session cookie is still set", run)
		}
	}
}
