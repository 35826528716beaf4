;;; todo-comments: a hint on every comment that holds a TODO, FIXME or XXX marker.
;;; Built on text-helpers (comment-start finds #, //, -- and ; comments).

(require 'text-helpers)

(define markers '("TODO" "FIXME" "XXX"))

;; The first marker in TEXT that sits inside its comment, or nil. Most lines hold no marker,
;; so three literal searches come first and the comment is looked for only when one is found.
(define (marker-in text)
  (and (or (string-contains text "TODO") (string-contains text "FIXME")
           (string-contains text "XXX"))
       (let ((start (comment-start text)))
         (and start
              (let loop ((left markers))
                (cond ((null left) nil)
                      ((let ((at (string-contains text (car left)))) (and at (< start at)))
                       (car left))
                      (t (loop (cdr left)))))))))

(define (todo-hint entry marker)
  (let ((text (line-text entry)))
    (hint (line-number entry)
          (format "%s: %s" marker (string-trim (substring text (comment-start text))))
          "todo-comment")))

(define (analyze)
  (let loop ((entries (buffer-lines)) (found nil))
    (if (null entries)
        (reverse found)
        (let ((marker (marker-in (line-text (car entries)))))
          (loop (cdr entries)
                (if marker (cons (todo-hint (car entries) marker) found) found))))))
