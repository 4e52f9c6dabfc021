package web_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/grant-go/grant/web"
)

// EnvRequireBrowser, set to "1", makes TestStatusPageInBrowser fail instead
// of skipping when no chromium is installed (CI sets it).
const EnvRequireBrowser = "GRANT_REQUIRE_BROWSER"

// chromium finds Debian's chromium (or a chromium-browser / google-chrome).
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	if os.Getenv(EnvRequireBrowser) == "1" {
		t.Fatalf("chromium is not installed and %s=1 (apt-get install -y chromium)", EnvRequireBrowser)
	}
	t.Skipf("chromium is not installed (apt-get install -y chromium); set %s=1 to fail instead", EnvRequireBrowser)
	return ""
}

// TestStatusPageInBrowser renders the status page in headless chromium and
// checks the DOM it builds: every node label, and the unhealthy marker on
// the dead replica's row only.
func TestStatusPageInBrowser(t *testing.T) {
	browser := chromium(t)
	_, plugin := newStatusFixture(t)
	srv := httptest.NewServer(web.StatusHandler(plugin))
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, browser, "--headless", "--no-sandbox", "--disable-gpu",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--no-first-run", "--disable-dev-shm-usage", "--user-data-dir="+t.TempDir(),
		"--dump-dom", srv.URL+"/status")
	cmd.WaitDelay = 5 * time.Second
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Fatalf("chromium did not finish in 90s; stderr:\n%s", stderr.String())
	}
	require.NoError(t, err, "chromium failed; stderr:\n%s", stderr.String())
	dom := string(out)
	require.Contains(t, dom, "<h1>grant topology</h1>", "chromium rendered the page; stderr:\n%s", stderr.String())

	assert.NotContains(t, dom, statusSecret)
	for _, label := range statusLabels {
		assert.Contains(t, dom, label)
	}
	// Chromium serialises the DOM it built: one row per node, and the dead
	// replica's row holds the unhealthy marker.
	rows := strings.Split(dom, "<tr>")
	var deadRow string
	for _, row := range rows {
		if strings.Contains(row, "<td>"+deadLabel+"</td>") {
			deadRow = row
		}
	}
	require.NotEmpty(t, deadRow, "the dead replica has a row")
	assert.Contains(t, deadRow, `<span class="unhealthy">✖ unhealthy</span>`)
	assert.Equal(t, 1, strings.Count(dom, `class="unhealthy"`), "only the dead replica is unhealthy")
	assert.Equal(t, len(statusLabels)-1, strings.Count(dom, `class="healthy"`), "every other node is healthy")
}
