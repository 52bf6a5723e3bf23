package resolver

// Keep this package's tests off the real internet (see DestinationCheck).
func init() { DestinationCheck = TestNetsOnly }
