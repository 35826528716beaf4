;;; text-helpers: line helpers that other programs build on with (require 'text-helpers).
;;; It defines no analyze, so the daemon never runs it on its own.

;; (buffer-lines) gives (LINE . TEXT) pairs; these name the two halves.
(define (line-number entry) (car entry))
(define (line-text entry) (cdr entry))

;; The entries of the event's window whose text satisfies PRED.
(define (lines-where pred)
  (filter (lambda (entry) (pred (line-text entry))) (buffer-lines)))

;; Where a line comment starts in TEXT, for the usual markers, or nil.
(define comment-markers '("#" "//" "--" ";"))

(define (comment-start text)
  (let loop ((markers comment-markers) (best nil))
    (if (null markers)
        best
        (let ((at (string-contains text (car markers))))
          (loop (cdr markers)
                (if (and at (or (null best) (< at best))) at best))))))

;; The indentation of TEXT, in characters (the "x" keeps string-trim off the right end).
(define (indentation text)
  (- (+ (length text) 1) (length (string-trim (concat text "x")))))
