package awshttp_test

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/sluicedev/sluice/internal/awshttp"
)

// recorder is an aws.HTTPClient that keeps the request it was given.
type recorder struct {
	req *http.Request
}

func (r *recorder) Do(req *http.Request) (*http.Response, error) {
	r.req = req
	return &http.Response{StatusCode: http.StatusOK, Body: http.NoBody, Request: req}, nil
}

// eofAfterClose mimics the SDK's request body: after Close, reads report io.EOF.
type eofAfterClose struct {
	r      io.Reader
	closed bool
}

func (b *eofAfterClose) Read(p []byte) (int, error) {
	if b.closed {
		return 0, io.EOF
	}
	return b.r.Read(p)
}

func (b *eofAfterClose) Close() error {
	b.closed = true
	return nil
}

func readAll(t *testing.T, rc io.ReadCloser) string {
	t.Helper()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	if err := rc.Close(); err != nil {
		t.Fatalf("close body: %v", err)
	}
	return string(b)
}

func TestRewindableBodyClientBuffersBody(t *testing.T) {
	const payload = `{"StreamName":"s","Limit":10000}`
	orig := &eofAfterClose{r: strings.NewReader(payload)}
	req, err := http.NewRequest(http.MethodPost, "http://127.0.0.1:1/", orig)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = int64(len(payload))

	rec := &recorder{}
	c := &awshttp.RewindableBodyClient{Next: rec}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("Do: %v", err)
	}
	resp.Body.Close()

	if !orig.closed {
		t.Error("original body was not closed")
	}
	got := rec.req
	if got == req {
		t.Fatal("Next got the caller's request; want a copy")
	}
	if req.Body != orig || req.GetBody != nil {
		t.Error("caller's request was modified")
	}
	if got.ContentLength != int64(len(payload)) {
		t.Errorf("ContentLength = %d, want %d", got.ContentLength, len(payload))
	}
	if got.GetBody == nil {
		t.Fatal("GetBody is nil")
	}
	// The body stays readable after the SDK closes its own body, and GetBody rewinds it.
	if diff := cmp.Diff(payload, readAll(t, got.Body)); diff != "" {
		t.Errorf("Body (-want +got):\n%s", diff)
	}
	for range 2 {
		b, err := got.GetBody()
		if err != nil {
			t.Fatalf("GetBody: %v", err)
		}
		if diff := cmp.Diff(payload, readAll(t, b)); diff != "" {
			t.Errorf("GetBody (-want +got):\n%s", diff)
		}
	}
}

func TestRewindableBodyClientPassesThrough(t *testing.T) {
	pipeR, pipeW := io.Pipe()
	defer pipeW.Close()
	tests := []struct {
		name          string
		body          io.ReadCloser
		contentLength int64
	}{
		{name: "nil body", body: nil},
		{name: "NoBody", body: http.NoBody},
		{name: "unknown length", body: pipeR, contentLength: -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodPost, "http://127.0.0.1:1/", nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Body = tt.body
			req.ContentLength = tt.contentLength
			rec := &recorder{}
			if _, err := (&awshttp.RewindableBodyClient{Next: rec}).Do(req); err != nil {
				t.Fatalf("Do: %v", err)
			}
			if rec.req != req {
				t.Error("request was rewritten; want it passed through unchanged")
			}
		})
	}
}

type failingBody struct{}

func (failingBody) Read([]byte) (int, error) { return 0, errors.New("boom") }
func (failingBody) Close() error             { return nil }

func TestRewindableBodyClientReadError(t *testing.T) {
	req, err := http.NewRequest(http.MethodPost, "http://127.0.0.1:1/", failingBody{})
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = 10
	rec := &recorder{}
	_, err = (&awshttp.RewindableBodyClient{Next: rec}).Do(req)
	if err == nil || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("Do error = %v, want the body's read error", err)
	}
	if rec.req != nil {
		t.Error("request was sent despite the read error")
	}
}

func TestRewindableBodyClientOverHTTP(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Write(bytes.ToUpper(b))
	}))
	defer srv.Close()

	hc := srv.Client()
	c := &awshttp.RewindableBodyClient{Next: hc}
	defer c.CloseIdleConnections()
	for _, size := range []int{1, 100, 4 << 10, 4<<10 + 1, 64 << 10, 1 << 20, 5 << 20} {
		payload := strings.Repeat("x", size)
		req, err := http.NewRequest(http.MethodPost, srv.URL, &eofAfterClose{r: strings.NewReader(payload)})
		if err != nil {
			t.Fatal(err)
		}
		req.ContentLength = int64(len(payload))
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("Do: %v", err)
		}
		// Close the caller's body right away, as the SDK does.
		req.Body.Close()
		if got := readAll(t, resp.Body); got != strings.ToUpper(payload) {
			t.Fatalf("response for %d bytes: got %d bytes, want the upper-cased payload", len(payload), len(got))
		}
	}
}

func TestRewindableBodyClientZeroValue(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(w, r.Body)
	}))
	defer srv.Close()
	req, err := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader("hello"))
	if err != nil {
		t.Fatal(err)
	}
	var c awshttp.RewindableBodyClient
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("Do: %v", err)
	}
	if got := readAll(t, resp.Body); got != "hello" {
		t.Errorf("echo = %q, want %q", got, "hello")
	}
}
