package flows

// Attribute joins f to the answers behind its destination at f.Time: the
// names the same client was given and still valid, else other clients'
// (flagged other_client), else no_lookup.
func Attribute(f Flow, l Lookuper) Flow {
	client, dest := f.Client.Addr().Unmap(), f.Dest.Addr().Unmap()
	if names := l.Lookup(client, dest, f.Time); len(names) > 0 {
		f.Attribution, f.Names = SameClient, names
		return f
	}
	// Who also holds the same client's entries, but Lookup found none
	// valid, so every entry valid now is another client's.
	if names := l.Who(dest, f.Time); len(names) > 0 {
		f.Attribution, f.Names = OtherClient, names
		return f
	}
	f.Attribution, f.Names = NoLookup, nil
	return f
}
