;;; todo-comments: a hint on every comment that holds a TODO, FIXME or XXX marker.
;;; Built on text-helpers (comment-start finds #, //, -- and ; comments).

(require 'text-helpers)

(define markers '("TODO" "FIXME" "XXX"))

;; The first marker in TEXT that sits inside its comment, or nil.
(define (marker-in text)
  (let ((start (comment-start text)))
    (and start
         (let loop ((left markers))
           (cond ((null left) nil)
                 ((let ((at (string-contains text (car left)))) (and at (< start at)))
                  (car left))
                 (t (loop (cdr left))))))))

(define (todo-hint entry marker)
  (let ((text (line-text entry)))
    (hint (line-number entry)
          (format "%s: %s" marker (string-trim (substring text (comment-start text))))
          "todo-comment")))

;; buffer-lines-with does the scan for the markers in Python: only the lines that hold one
;; are looked at here, which is what keeps this fast on big files.
(define (analyze)
  (let loop ((entries (apply buffer-lines-with markers)) (found nil))
    (if (null entries)
        (reverse found)
        (let ((marker (marker-in (line-text (car entries)))))
          (loop (cdr entries)
                (if marker (cons (todo-hint (car entries) marker) found) found))))))
