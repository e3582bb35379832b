import java.io.IOException;
import java.util.Iterator;

import io.delta.storage.LocalLogStore;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.Path;

/**
 * Delta's log store for local paths, except that the driver JVM dies, as a killed job does, at the moment
 * it would commit to the table named by the Hadoop setting `affective.crashBeforeCommitTo`: the data files of
 * that write are on disk, the log entry that would make them part of the table is not.
 * Used by tests/test_faults.py with spark.delta.logStore.file.impl=CrashBeforeCommit.
 */
public class CrashBeforeCommit extends LocalLogStore {
    public static final int EXIT_CODE = 86;

    public CrashBeforeCommit(Configuration conf) {
        super(conf);
    }

    @Override
    public void write(Path path, Iterator<String> actions, Boolean overwrite, Configuration conf) throws IOException {
        String table = path.getParent().getParent().getName();
        boolean commit = path.getName().matches("\\d{20}\\.json");
        if (commit && table.equals(conf.get("affective.crashBeforeCommitTo"))) {
            Runtime.getRuntime().halt(EXIT_CODE);
        }
        super.write(path, actions, overwrite, conf);
    }
}
