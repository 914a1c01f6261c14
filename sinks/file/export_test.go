package file

// SetBeforeManifest installs a hook that Commit calls after the batch's files are complete
// and durable, just before the manifest is written; an error makes Commit fail there, as a
// crash at that moment would, leaving the files in place.
func SetBeforeManifest(s *Sink, hook func(batchID int64) error) { s.beforeManifest = hook }
