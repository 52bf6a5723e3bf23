package syncer

import (
	"os"
	"os/signal"
	"syscall"
)

// watchSIGHUP makes SIGHUP trigger a sync now (CoreDNS ignores SIGHUP; its
// reload is SIGUSR1). It returns the function that stops watching.
func watchSIGHUP(g *Syncer) func() {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGHUP)
	stop := make(chan struct{})
	go func() {
		for {
			select {
			case <-ch:
				g.log.Infof("SIGHUP: syncing now")
				g.Trigger()
			case <-stop:
				return
			}
		}
	}()
	return func() {
		signal.Stop(ch)
		close(stop)
	}
}
