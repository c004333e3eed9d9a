package redis

import (
	"errors"
	"testing"
)

// scanned is the framing state boundedConn reaches over data read in
// pieces of at most piece bytes, and the error it stops at.
func scanned(data []byte, piece int) (boundedConn, error) {
	var c boundedConn
	for len(data) > 0 {
		n := min(piece, len(data))
		if err := c.scan(data[:n]); err != nil {
			return c, err
		}
		data = data[n:]
	}
	return c, nil
}

// FuzzReplyFraming: the reply framing that bounds what go-redis
// allocates (boundedConn) reads any bytes without panicking, reaches one
// state and one verdict however the reads split them (a reply arrives in
// whatever pieces TCP gives), and refuses only with a *ReplyTooLargeError.
func FuzzReplyFraming(f *testing.F) {
	for _, s := range []string{
		"+list\r\n", ":3\r\n", "$5\r\nhello\r\n", "*2\r\n$1\r\na\r\n$-1\r\n", "$999999999999\r\n",
		"*99999999\r\n", "%1\r\n+k\r\n:1\r\n", "=15\r\ntxt:Some string\r\n", "$-0\r\n\r\n", "$1x0\r\n0123456789\r\n",
		"_\r\n", ",1.5\r\n", "(3492890328409238509324850943850943825024385\r\n", ">2\r\n+a\r\n+b\r\n", "!21\r\nSYNTAX invalid syntax\r\n",
	} {
		f.Add([]byte(s), 1)
		f.Add([]byte(s), 3)
	}
	f.Fuzz(func(t *testing.T, data []byte, piece int) {
		if piece < 1 || piece > len(data) {
			piece = max(1, len(data))
		}
		whole, wholeErr := scanned(data, len(data)+1)
		split, splitErr := scanned(data, piece)
		if (wholeErr == nil) != (splitErr == nil) || (wholeErr != nil && wholeErr.Error() != splitErr.Error()) {
			t.Fatalf("read whole: %v; in pieces of %d: %v", wholeErr, piece, splitErr)
		}
		if wholeErr == nil && whole != split {
			t.Fatalf("read whole: %+v; in pieces of %d: %+v", whole, piece, split)
		}
		var tl *ReplyTooLargeError
		if wholeErr != nil && !errors.As(wholeErr, &tl) {
			t.Fatalf("refused with %T %v, want a *ReplyTooLargeError", wholeErr, wholeErr)
		}
	})
}
