package heartbeat

import "errors"

var (
	// ErrInvalidOption is wrapped by every error New returns for a bad
	// option value; the message names the option.
	ErrInvalidOption = errors.New("heartbeat: invalid option")

	// ErrTimeout is the failure recorded for a vital whose Check did not
	// return within its timeout.
	ErrTimeout = errors.New("heartbeat: vital timed out")

	// ErrPanic is the failure recorded for a vital whose Check panicked
	// (or ended its goroutine with runtime.Goexit) instead of returning.
	ErrPanic = errors.New("heartbeat: vital panicked")
)

// optionError names the option in its message ("heartbeat: WithTimeout:
// must be > 0, got -1s") and matches errors.Is(err, ErrInvalidOption).
type optionError struct {
	option string
	msg    string
}

func (e *optionError) Error() string { return "heartbeat: " + e.option + ": " + e.msg }

func (e *optionError) Unwrap() error { return ErrInvalidOption }
