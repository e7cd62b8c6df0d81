"""The instructor's tools: release the student copies, build and run graded notebooks, report grades.

- :mod:`.release`: student copies (answers stubbed, hidden tests removed);
- :mod:`.build`: the notebook graded for one student, its checks' plans for the judge alone;
- :mod:`.sandbox`, :mod:`.inside`, :mod:`.verdicts`: one graded run under bubblewrap (where the package is
  its student side, :mod:`socketlab.studentside`), and what it reports;
- :mod:`.judge`, :mod:`.agent`, :mod:`.link`: each check run in the grader's pytest process, the student's
  answers called in their kernel, and the line between the two;
- :mod:`.gradebook`: a class graded; :mod:`.reports`: the gradebook CSV and feedback.

The student-facing library never imports this package.
"""
