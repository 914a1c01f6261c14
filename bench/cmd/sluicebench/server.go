package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"syscall"
	"time"

	"github.com/sluicedev/sluice/bench/internal/fakekinesis"
)

// streamName is the name of the fake streams.
const streamName = "bench"

// serverStats is what the server's /stats answers: its counters and CPU time so far, and what
// one read of each stream holds.
type serverStats struct {
	Main, Wide          fakekinesis.LogStats
	GetRecordsCalls     int64
	GetRecordsThrottled int64 // 0: the streams do not throttle (LogConfig.ThrottleEvery)
	PutCalls, PutRefuse int64
	PutRecords, PutData int64
	CPUNs               int64 // user + system time of the server process
}

// serverAddrs is the line the server prints when it listens.
type serverAddrs struct {
	Main, Wide string
}

// serveMain is the server process: it serves the main and the wide stream until its stdin
// closes (the parent exited or is done).
func serveMain(ctx context.Context, cfgJSON string) error {
	var cfg config
	if err := json.Unmarshal([]byte(cfgJSON), &cfg); err != nil {
		return fmt.Errorf("-config: %w", err)
	}
	primary := fakekinesis.NewLogs(fakekinesis.LogConfig{Stream: streamName, Shards: cfg.Shards, RecordsPerShard: cfg.RecordsPerShard, RecordSize: cfg.RecordSize})
	wide := fakekinesis.NewLogs(fakekinesis.LogConfig{Stream: streamName, Shards: cfg.RSSShards, RecordsPerShard: cfg.RecordsPerShard, RecordSize: cfg.RecordSize})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, r *http.Request) {
		var ru syscall.Rusage
		syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		json.NewEncoder(w).Encode(serverStats{
			Main: primary.Stats(), Wide: wide.Stats(),
			GetRecordsCalls:     primary.GetRecordsCalls.Load() + wide.GetRecordsCalls.Load(),
			GetRecordsThrottled: primary.GetRecordsThrottled.Load() + wide.GetRecordsThrottled.Load(),
			PutCalls:            primary.Puts.Calls.Load(), PutRefuse: primary.Puts.Refused.Load(),
			PutRecords: primary.Puts.Records.Load(), PutData: primary.Puts.DataBytes.Load(),
			CPUNs: ru.Utime.Nano() + ru.Stime.Nano(),
		})
	})
	mux.Handle("/", primary)
	var addrs serverAddrs
	errc := make(chan error, 2)
	for _, s := range []struct {
		h    http.Handler
		addr *string
	}{{mux, &addrs.Main}, {wide, &addrs.Wide}} {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		srv := &http.Server{Handler: s.h, ReadHeaderTimeout: time.Minute}
		defer srv.Close()
		go func() { errc <- srv.Serve(l) }()
		*s.addr = "http://" + l.Addr().String()
	}
	if err := json.NewEncoder(os.Stdout).Encode(addrs); err != nil {
		return err
	}
	stdin := make(chan struct{})
	go func() {
		io.Copy(io.Discard, os.Stdin)
		close(stdin)
	}()
	select {
	case <-stdin:
		return nil
	case <-ctx.Done():
		return nil
	case err := <-errc:
		return err
	}
}

// server is the server process, seen from the parent.
type server struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	addrs serverAddrs
}

// startServer starts the server process and waits until it listens.
func startServer(ctx context.Context, self string, cfgJSON []byte) (*server, error) {
	cmd := exec.CommandContext(ctx, self, "-serve", "-config", string(cfgJSON))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &server{cmd: cmd, stdin: stdin}
	line, err := bufio.NewReader(stdout).ReadBytes('\n')
	if err == nil {
		err = json.Unmarshal(line, &s.addrs)
	}
	if err != nil {
		s.stop()
		return nil, fmt.Errorf("the server process did not start: %w", err)
	}
	return s, nil
}

// stats asks the server for its counters.
func (s *server) stats(ctx context.Context) (serverStats, error) {
	var st serverStats
	req, err := http.NewRequestWithContext(ctx, "GET", s.addrs.Main+"/stats", nil)
	if err != nil {
		return st, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return st, fmt.Errorf("server stats: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return st, fmt.Errorf("server stats: %s", resp.Status)
	}
	return st, json.NewDecoder(resp.Body).Decode(&st)
}

// stop closes the server's stdin, which ends it, and waits.
func (s *server) stop() error {
	s.stdin.Close()
	done := make(chan error, 1)
	go func() { done <- s.cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		s.cmd.Process.Kill()
		return errors.Join(errors.New("the server process did not stop; killed"), <-done)
	}
}
